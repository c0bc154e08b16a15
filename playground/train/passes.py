"""Forward passes outside the training step: evaluation, predictions, diagnostics,
inspection and lessons. Each runs in chunks of `model.build.images_per_pass` images, so
its layer outputs stay within the one activation budget; at most one chunk per core runs
at once in the whole process, so many sessions cannot add their budgets up; and a pass
that is asked to stop does so between two chunks.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator

import torch

from playground.train.threads import cpu_cores

StopCheck = Callable[[], bool]

# How often a pass waiting for a slot looks whether it was asked to stop.
STOP_POLL_SECONDS = 0.05


class PassStopped(Exception):
    """A stop was asked for between two chunks of a pass; its result is incomplete."""


class PassSlots:
    """At most `count` passes at once; a thread already holding one may enter again (a
    pass inside a pass must not wait for itself)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._free = threading.Semaphore(count)
        self._held = threading.local()

    @contextlib.contextmanager
    def hold(self, should_stop: StopCheck | None = None) -> Iterator[None]:
        depth = getattr(self._held, "depth", 0)
        if depth == 0:
            while not self._free.acquire(timeout=STOP_POLL_SECONDS):
                if should_stop is not None and should_stop():
                    raise PassStopped
        self._held.depth = depth + 1
        try:
            yield
        finally:
            self._held.depth = depth
            if depth == 0:
                self._free.release()


# One per core: a pass already uses its core fully, more at once only add memory.
SLOTS = PassSlots(cpu_cores())


def pass_slot(should_stop: StopCheck | None = None) -> contextlib.AbstractContextManager:
    """Hold one of the process's pass slots while a chunk runs (waiting, stoppably)."""
    return SLOTS.hold(should_stop)


def with_gradients(per_pass: int) -> int:
    """Images per chunk of a pass that also runs backward to its input (attributions,
    adversarial noise, feature visualisation): the backward pass keeps the forward's
    activations and adds their gradients, so half as many fit the same budget."""
    return max(1, int(per_pass) // 2)


def chunks(count: int, per_pass: int, should_stop: StopCheck | None = None) -> Iterator[slice]:
    """Slices of at most `per_pass` of `count` items, in order; PassStopped before a chunk
    once `should_stop()` says so."""
    per_pass = max(1, int(per_pass))
    for start in range(0, count, per_pass):
        if should_stop is not None and should_stop():
            raise PassStopped
        yield slice(start, min(start + per_pass, count))


def forward_in_chunks(network: torch.nn.Module, images: torch.Tensor, per_pass: int,
                      should_stop: StopCheck | None = None) -> torch.Tensor:
    """`network(images)` chunk by chunk, each in a pass slot, without gradients: the
    outputs (small: logits or features) concatenated."""
    outputs = []
    with torch.no_grad():
        for part in chunks(len(images), per_pass, should_stop):
            with pass_slot(should_stop):
                outputs.append(network(images[part]))
    return torch.cat(outputs)
