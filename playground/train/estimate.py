"""How long a run will train, said before it starts.

A few training steps of the real network, at the run's batch size, on the run's device,
are timed in a thread of their own that uses every core (as a training thread does). The
data are random images of the dataset's shape: a step's time depends on the shapes, not on
the pixels, so the estimate needs no dataset loaded. Results are kept per (network, batch
size, augmentation, image shape, device, precision, memory layout) for the life of the
process.
"""
from __future__ import annotations

import json
import math
import statistics
import threading
import time

import torch

from playground import spec as S
from playground.data.augment import augment_batch
from playground.model import build as M
from playground.train.device import memory_format, pick_device, uses_bf16
from playground.train.optim import make_optimizer
from playground.train.step import train_step
from playground.train.threads import cpu_cores

# Training images of the named datasets (the full sets), known before loading them.
TRAIN_SIZES = {"mnist": 60_000, "fashion-mnist": 60_000, "cifar10": 50_000}
WARMUP_STEPS = 2        # the first steps allocate buffers and pick kernels: not timed
MIN_STEPS = 3
MAX_STEPS = 20
BUDGET_SECONDS = 1.5    # timed steps stop after this much, once MIN_STEPS are done

_measured: dict[tuple, float] = {}
_measuring = threading.Lock()  # one measurement at a time: they would slow each other


def seconds_per_step(model_spec: S.ModelSpec, config: S.TrainingConfig,
                     input_shape: tuple[int, int, int], dataset_name: str,
                     device: str = "auto") -> float:
    """Seconds one training step of `model_spec` takes with `config`'s batch size and
    augmentation on `device` (measured once per process for each combination)."""
    target = pick_device(device)
    key = (json.dumps(model_spec.to_dict(), sort_keys=True), config.batch_size,
           bool(config.augment), config.optimizer, tuple(input_shape), dataset_name,
           str(target), config.cpu_bf16, config.channels_last)
    with _measuring:
        if key not in _measured:
            _measured[key] = measure_seconds_per_step(model_spec, config, input_shape,
                                                      dataset_name, target)
        return _measured[key]


def training_seconds(step_seconds: float, train_size: int, batch_size: int,
                     epochs: int) -> float:
    """Training time of a whole run at `step_seconds` per step (evaluations not counted,
    as in the run's own training time)."""
    return step_seconds * math.ceil(train_size / batch_size) * epochs


def describe_seconds(seconds: float) -> str:
    """`12.3 s`, `2 min 10 s`, `1 h 05 min`: a duration as a lecturer would say it."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def measure_seconds_per_step(model_spec: S.ModelSpec, config: S.TrainingConfig,
                             input_shape: tuple[int, int, int], dataset_name: str,
                             device: torch.device) -> float:
    """A new measurement (not kept), in a thread of its own so that the step uses every
    core whatever the caller's thread count (page threads use one)."""
    input_shape = tuple(input_shape)
    result: list[float] = []
    failure: list[BaseException] = []

    def measure() -> None:
        torch.set_num_threads(cpu_cores())
        try:
            result.append(_measure(model_spec, config, input_shape, dataset_name, device))
        except BaseException as error:  # handed to the caller's thread
            failure.append(error)

    thread = threading.Thread(target=measure, name="step-timing", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def _measure(model_spec: S.ModelSpec, config: S.TrainingConfig,
             input_shape: tuple[int, int, int], dataset_name: str,
             device: torch.device) -> float:
    generator = torch.Generator().manual_seed(0)
    layout = memory_format(config)
    network = M.build_model(model_spec, "cpu", generator).to(device, memory_format=layout).train()
    device_generator = torch.Generator(device).manual_seed(0)
    M.set_dropout_generator(network, device_generator)
    optimizer = make_optimizer(network, config)
    mixed_precision = uses_bf16(device, config)
    images = torch.randn((config.batch_size, *input_shape), generator=generator).to(device)
    labels = torch.randint(0, model_spec.num_classes, (config.batch_size,),
                           generator=generator).to(device)
    timings: list[float] = []
    for step in range(WARMUP_STEPS + MAX_STEPS):
        started = time.perf_counter()
        batch = (augment_batch(images, dataset_name, device_generator) if config.augment
                 else images).contiguous(memory_format=layout)
        loss, _ = train_step(network, optimizer, batch, labels,
                             mixed_precision=mixed_precision)
        float(loss)  # waits for the step, as the trainer's records do now and then
        if step >= WARMUP_STEPS:
            timings.append(time.perf_counter() - started)
            if len(timings) >= MIN_STEPS and sum(timings) >= BUDGET_SECONDS:
                break
    # The median: one step slowed by another process says little about the rest.
    return statistics.median(timings)
