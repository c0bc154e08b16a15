"""What a run records: metrics per log point, evaluation and epoch, weight norms, and a ring
of weight snapshots that keeps covering the whole run within a byte budget."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class StepRecord:
    """Training metrics averaged over the steps since the previous record."""

    step: int
    epoch: float          # fractional: 1.5 is half way through the second epoch
    loss: float
    train_acc: float
    lr: float
    samples_per_s: float
    train_seconds: float


@dataclass
class EvalRecord:
    step: int
    epoch: float
    test_loss: float
    test_acc: float
    train_seconds: float


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    train_acc: float
    test_acc: float
    samples_per_s: float
    train_seconds: float
    seconds: float


@dataclass
class LrChange:
    """The learning rate set by hand while a run lives: `step` is the first step trained
    with `lr` (the steps already done when it was set, plus one)."""

    step: int
    epoch: float          # fractional, of that first step
    lr: float


@dataclass
class RunProgress:
    """How far a run got: its step, training time and records. A stored run comes back
    with it (`Trainer.restore`)."""

    step: int
    train_seconds: float
    steps: list[StepRecord]
    evals: list[EvalRecord]
    epochs: list[EpochRecord]
    lr_changes: list[LrChange] = field(default_factory=list)


@dataclass
class NormRecord:
    """Per-layer L2 norms of the weights and of the last gradients, at one step."""

    step: int
    epoch: float
    layers: list[int]          # top-level layer indices (spec order, auto head last)
    weight_norms: list[float]
    grad_norms: list[float]


@dataclass
class Snapshot:
    step: int
    epoch: float
    state: dict[str, torch.Tensor]   # CPU copy of the state_dict
    nbytes: int


class SnapshotRing:
    """Weight snapshots of one run, taken every `every` steps and kept within a byte budget.

    When the snapshots outgrow the budget, every second one goes (the first and the last
    stay) and `every` doubles, so the ring keeps covering the whole run instead of its tail.
    Not thread-safe: the trainer guards it with its lock.
    """

    def __init__(self, every: int):
        self.every = every
        self._snapshots: list[Snapshot] = []

    def is_due(self, step: int) -> bool:
        return step % self.every == 0

    def add(self, step: int, epoch: float, state: dict[str, torch.Tensor],
            max_bytes: int) -> None:
        """Keep `state` (a CPU copy the ring now owns) unless this step is kept already.

        The budget comes with each snapshot: a run's options may change it while it runs."""
        if self._snapshots and self._snapshots[-1].step == step:
            return
        nbytes = sum(t.numel() * t.element_size() for t in state.values())
        self._snapshots.append(Snapshot(step, epoch, state, nbytes))
        while self._total_bytes() > max_bytes and len(self._snapshots) > 2:
            self._thin()

    def list(self) -> list[Snapshot]:
        return list(self._snapshots)

    def _total_bytes(self) -> int:
        return sum(s.nbytes for s in self._snapshots)

    def _thin(self) -> None:
        kept = self._snapshots[::2]
        if kept[-1] is not self._snapshots[-1]:
            kept.append(self._snapshots[-1])
        if len(kept) == len(self._snapshots):
            kept = kept[1:]
        self._snapshots = kept
        self.every *= 2
