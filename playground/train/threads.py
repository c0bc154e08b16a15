"""How torch work shares the CPU cores: every core for training, one for page work, and a
lower priority for background training threads."""
from __future__ import annotations

import os
import threading

import torch

# Niceness the app gives training threads (TrainerOptions.thread_nice): page refreshes,
# a few tens of ms of Python each, then run before training instead of queueing behind it.
# Measured on 2 cores (BENCHMARKS.md): the app trained at 12k images/s instead of 8k and
# refreshed in about half the time.
BACKGROUND_NICE = 10


def cpu_cores() -> int:
    """The cores this process may run on (fewer than the machine's in a container, and the
    cores reserved for it when a scheduler such as Ray says so in OMP_NUM_THREADS)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    reserved = os.environ.get("OMP_NUM_THREADS", "")
    if reserved.isdigit() and int(reserved) > 0:
        cores = min(cores or 1, int(reserved))
    return max(1, cores or 1)


def configure_threads() -> int:
    """Use every core for torch's intra-op work (the default can be fewer in containers)."""
    torch.set_num_threads(cpu_cores())
    return torch.get_num_threads()


def use_one_thread_for_page_work() -> None:
    """Torch work done while a page runs (inspection forward passes, lessons) uses one
    intra-op thread; training runs pin every core in their own thread.

    Each thread that runs torch ops on several threads starts an OpenMP team of its own.
    With a page's team alive next to a training run's, the process has more OpenMP threads
    than cores and libgomp stops spinning between parallel regions, which slowed training
    by a third and small page computations by 10x or more on 2 busy cores (BENCHMARKS.md).
    """
    torch.set_num_threads(1)


def lower_thread_priority(nice: int) -> None:
    """Raise the calling thread's niceness by `nice` (Linux threads have their own); where
    that is not possible the thread simply keeps its priority."""
    if nice <= 0 or not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + nice)
    except OSError:
        pass
