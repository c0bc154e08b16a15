"""The executor interface: every command to a run and every read of one, as plain data.

Pages hold a run id, never a trainer or a module. What crosses this interface is
dataclasses, records, numbers and CPU tensors, so a backend may train in this process
(`playground.runs.local`) or in another process or machine. Commands to a run that no
longer exists do nothing; reads of one raise UnknownRunError (status says None instead).

Control of a run belongs to the browser that started it. Every command takes the caller's
`owner` (keyword-only): a page passes its browser's owner id and a command to a run that
another owner made raises NotOwnerError. `owner=None` is the server itself (a script, a
test, the administrator page), which may command any run; pages never pass None.
Reads take no owner: a browser that opens another's address may watch its run, and the
pages decide what a watcher sees (never its weights as a download, never its history).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from playground import spec as S

if TYPE_CHECKING:
    import torch

    from playground.analysis.diagnostics import TestPredictions
    from playground.train.records import (EpochRecord, EvalRecord, LrChange, NormRecord,
                                          StepRecord)

StateDict = dict[str, "torch.Tensor"]


class RunLimitError(RuntimeError):
    """A cap on active runs (the whole server's or one session's) refuses a new run."""


class UnknownRunError(KeyError):
    """The run id names no run (never made, or stopped and freed)."""


class NotOwnerError(PermissionError):
    """A command to a run from a browser other than the one that started it."""

    def __init__(self, run_id: str) -> None:
        super().__init__("this run was started in another browser: only that browser can "
                         "train, pause, step, stop, reset or change it")
        self.run_id = run_id


def run_label(number: int, model_spec: S.ModelSpec, config: S.TrainingConfig) -> str:
    return (f"#{number} {model_spec.name}: {config.optimizer} lr {config.lr:g}, "
            f"batch {config.batch_size}{', augment' if config.augment else ''}")


@dataclass
class RunOptions:
    """How a run is observed, separate from what it learns (`TrainingConfig`)."""

    log_every: int = 20              # steps between metric records
    evals_per_epoch: int = 1         # test-set evaluations per epoch
    snapshot_every: int = 50         # steps between weight snapshots
    record_norms: bool = False       # per-layer weight/gradient norms at every log point
    keep_predictions: bool = False   # top-3 test predictions at every evaluation
    mixed_precision: bool = True     # bf16 autocast on CUDA
    compile: bool = False            # torch.compile the training forward


@dataclass
class RunStatus:
    """One run at one moment: its state, progress and settings."""

    run_id: str
    owner: str                       # the browser session that made it
    number: int                      # the session's run counter, for labels
    state: str                       # one of the trainer's states (ready, running, ...)
    message: str                     # why it paused, finished or failed
    step: int
    epoch: float                     # fractional
    busy: bool                       # training now, or working through requested steps
    pending_steps: int               # steps asked for with step() and not yet trained
    queued: bool                     # waiting for a free training slot
    queue_position: tuple[int, int] | None  # (1-based place, line length) while queued
    lr: float                        # the learning rate in use now
    lr_set: float                    # the rate last set by hand, else the starting one
    remaining_seconds: float | None  # training time still needed at the pace so far
    train_seconds: float
    steps_per_epoch: int
    total_steps: int
    device: str                      # e.g. "cpu", "cuda"
    spec: S.ModelSpec
    config: S.TrainingConfig         # a copy: augmentation may change while it trains
    idle_note: str = ""              # why the registry paused it, for the page to say
    dataset_note: str = ""           # e.g. trained on an embedded subset
    origin: str = ""                 # where its first weights came from, e.g. a file
    from_store: bool = False         # opened again from the run store: it trains no further
    age_seconds: float = 0.0         # since it was made
    connected: bool | None = None    # a page of its browser is open now (None: unknown)
    holds_place: bool = False        # counts against the caps on active runs now

    @property
    def label(self) -> str:
        return run_label(self.number, self.spec, self.config)

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]


@dataclass
class RunRecords:
    """The records of steps in (since_step, through_step]: everything a run wrote for
    those steps, so a caller that keeps them asks next time from through_step."""

    through_step: int
    steps: list[StepRecord]
    evals: list[EvalRecord]
    epochs: list[EpochRecord]
    norms: list[NormRecord]
    # Learning rates set by hand whose first step is among those steps.
    lr_changes: list[LrChange] = field(default_factory=list)


@dataclass
class SnapshotInfo:
    snapshot_id: int
    step: int
    epoch: float


@dataclass
class DatasetInfo:
    """The dataset a run trains on; `name` loads it (playground.data.shared.dataset)."""

    name: str
    classes: list[str]
    input_shape: tuple[int, int, int]
    train_size: int
    test_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    note: str
    samples: torch.Tensor            # the first few training images, normalised, CPU


@dataclass
class RunSummary:
    """What "compare runs" shows of a stored run: settings and curves, no weights."""

    run_id: str
    number: int
    spec: S.ModelSpec
    config: S.TrainingConfig
    device: str
    steps: list
    evals: list
    epochs: list
    state: str
    lr_changes: list = field(default_factory=list)  # LrChange: rates set by hand

    @property
    def label(self) -> str:
        return run_label(self.number, self.spec, self.config)

    @property
    def test_acc(self) -> float | None:
        return self.evals[-1].test_acc if self.evals else None


class Executor(Protocol):
    """Where runs live. A run id is all a caller holds; commands name their caller."""

    # --- making and freeing runs ------------------------------------------------------
    def create(self, owner: str, model_spec: S.ModelSpec, config: S.TrainingConfig,
               dataset_name: str, device: str = "auto", options: RunOptions | None = None,
               initial_weights: StateDict | None = None, *, address: str | None = None,
               origin: str = "") -> str:
        """A new run of `owner`, ready to start; RunLimitError at the caps (the server's,
        the owner's, and the client address's when one is given and that cap is set),
        SpecError or DataError when the network does not fit the dataset or the dataset
        cannot be loaded. `initial_weights` (a CPU state_dict of the spec's network) replace
        the seed's draw: training on from a stored run, or weights loaded from a file.
        `origin` says where such weights came from (RunStatus.origin)."""

    def open_stored(self, owner: str, run_id: str, number: int | None = None) -> str | None:
        """One of the owner's stored runs (`history`; without a number the newest under
        that id) as a run to read: ended (finished, stopped, failed or interrupted) with
        its stored step, records and weights. Its id, or None when the store no longer
        has it; DataError when its dataset cannot be loaded."""

    def free(self, run_id: str, *, owner: str | None = None) -> None:
        """Stop the run, keep its summary for comparison, free its model and tensors."""

    def touch(self, run_id: str) -> bool:
        """A page of its owner still shows the run (keeps the idle pause away); False if
        it is gone."""

    # --- commands (NotOwnerError when `owner` is not the run's) -------------------------
    def start(self, run_id: str, *, owner: str | None = None) -> None:
        """Train now if the device has a free slot, else join its queue. A run paused
        because its page was closed takes its place under the caps back first
        (RunLimitError when there is none)."""

    def resume(self, run_id: str, *, owner: str | None = None) -> None: ...
    def pause(self, run_id: str, *, owner: str | None = None) -> None: ...
    def step(self, run_id: str, batches: int = 1, *, owner: str | None = None) -> None: ...
    def step_epoch(self, run_id: str, *, owner: str | None = None) -> None: ...
    def stop(self, run_id: str, *, owner: str | None = None) -> None: ...

    def reset(self, run_id: str, *, owner: str | None = None) -> None:
        """Keep the run's curves for comparison, then re-initialise it from its seed."""

    def set_lr(self, run_id: str, lr: float, *, owner: str | None = None) -> None: ...
    def set_augment(self, run_id: str, augment: bool, *, owner: str | None = None) -> None: ...

    # --- reads --------------------------------------------------------------------------
    def status(self, run_id: str) -> RunStatus | None: ...
    def records(self, run_id: str, since_step: int = 0) -> RunRecords: ...

    def test_predictions(self, run_id: str) -> TestPredictions | None:
        """Top-3 test predictions of the latest evaluation (when the run keeps them)."""

    def latest_weights(self, run_id: str) -> tuple[int, StateDict]:
        """(step, CPU state_dict) taken between two training steps."""

    def weight(self, run_id: str, name: str) -> tuple[int, torch.Tensor]:
        """(step, CPU copy of one state_dict entry): all a live panel needs."""

    def snapshots(self, run_id: str) -> list[SnapshotInfo]: ...
    def snapshot_weights(self, run_id: str, snapshot_id: int) -> StateDict | None: ...
    def dataset_info(self, run_id: str) -> DatasetInfo: ...

    # --- sessions -----------------------------------------------------------------------
    def owner_of(self, run_id: str | None) -> str | None:
        """The browser that made the run, even after the run was freed."""

    def history(self, owner: str) -> list[RunSummary]:
        """The session's stored runs, oldest first: ended, reset, or as at the last epoch
        end of one still training (after a restart those read "interrupted")."""

    def evictions(self, owner: str) -> list[str]:
        """The session's stored runs evicted to stay within the store's bounds since the
        last call (label and which bound), for the page to say so."""

    def all_runs(self) -> list[RunStatus]:
        """Every run the executor holds, oldest first (the administrator page)."""

    @property
    def max_active(self) -> int:
        """The cap on active runs, whole server (or cluster)."""

    def close(self) -> None:
        """Stop every run (tests, server shutdown)."""
