"""The in-process backend: each run is a Trainer training in a thread of this process.

Datasets come from the process-wide cache (playground.data.shared) and are shared
read-only by every run. Trainer state changes wake the registry, so a freed training slot
goes to the next run in line at once; so do epoch ends, after which the registry stores the
run. A stored run opened again is a trainer restored to how it was stored, on the CPU.
"""
from __future__ import annotations

import dataclasses
import math
import secrets
import threading
from dataclasses import dataclass
from typing import Callable

import torch

from playground import spec as S
from playground.analysis.diagnostics import TestPredictions
from playground.data import shared
from playground.data.datasets import Dataset
from playground.runs.executor import (DatasetInfo, RunLimitError, RunOptions, RunRecords,
                                      RunStatus, RunSummary, SnapshotInfo, StateDict,
                                      UnknownRunError)
from playground.runs.registry import RunRegistry
from playground.runs.store import RunStore, StoredRun
from playground.train import trainer as T
from playground.train.records import RunProgress
from playground.train.threads import BACKGROUND_NICE

SAMPLE_IMAGES = 8  # DatasetInfo.samples
# How long Stop and Reset wait for a run's thread to end before they return, the run
# saying "stopping..." until it does (a step's work is capped to about a second).
STOP_WAIT_SECONDS = 0.5


@dataclass
class LocalRun:
    trainer: T.Trainer
    dataset_name: str        # what it was loaded by
    dataset: Dataset         # the shared CPU copy (the trainer holds its own on the device)
    dataset_note: str
    from_store: bool = False  # opened again from the run store
    origin: str = ""          # where its first weights came from (a file), if not a seed
    # How far it got and its weights at the last epoch end, until the registry stores them.
    epoch_end: tuple[RunProgress, StateDict] | None = None


class TrainerWorkers:
    """The registry's `Workers`: the trainers of this process, by run id."""

    def __init__(self) -> None:
        self._runs: dict[str, LocalRun] = {}
        self._lock = threading.Lock()

    def add(self, run_id: str, run: LocalRun) -> None:
        with self._lock:
            self._runs[run_id] = run

    def get(self, run_id: str) -> LocalRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def _trainer(self, run_id: str) -> T.Trainer | None:
        run = self.get(run_id)
        return run.trainer if run is not None else None

    def state(self, run_id: str) -> str | None:
        trainer = self._trainer(run_id)
        return trainer.state if trainer is not None else None

    def busy(self, run_id: str) -> bool:
        """Holding a training slot: a stopping run, finishing its last step, gives its
        slot up at once."""
        trainer = self._trainer(run_id)
        return trainer is not None and trainer.busy and not trainer.stopping

    def begin(self, run_id: str) -> None:
        if (trainer := self._trainer(run_id)) is not None:
            trainer.start()

    def pause(self, run_id: str) -> None:
        if (trainer := self._trainer(run_id)) is not None:
            trainer.pause()

    def stop(self, run_id: str) -> None:
        if (trainer := self._trainer(run_id)) is not None:
            trainer.stop(wait=STOP_WAIT_SECONDS)

    def reinitialise(self, run_id: str) -> None:
        if (run := self.get(run_id)) is not None:
            run.trainer.reset()
            run.epoch_end, run.from_store = None, False

    def epoch_ended(self, run_id: str) -> None:
        """In the training thread, right after an epoch's records: copy what the registry
        will store (one CPU copy of the weights per epoch; nothing per step)."""
        if (run := self.get(run_id)) is not None:
            taken = (run.trainer.progress(), run.trainer.latest_weights()[1])
            with self._lock:
                run.epoch_end = taken

    def unsaved_epoch(self, run_id: str) -> bool:
        run = self.get(run_id)
        return run is not None and run.epoch_end is not None

    def stored(self, run_id: str, owner: str,
               number: int) -> tuple[StoredRun, StateDict] | None:
        run = self.get(run_id)
        if run is None:
            return None
        with self._lock:  # an epoch end in the training thread may be writing it
            taken, run.epoch_end = run.epoch_end, None
        trainer, state = run.trainer, run.trainer.state
        if state in T.ENDED:
            progress, weights = trainer.progress(), trainer.latest_weights()[1]
        elif taken is not None:
            progress, weights = taken
        else:
            return None
        return StoredRun(run_id, number, owner, trainer.spec, dataclasses.replace(trainer.config),
                         run.dataset_name, str(trainer.device), state, trainer.message,
                         trainer.steps_per_epoch, progress), weights

    def release(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)


class LocalExecutor:
    """The Executor of this process: a RunRegistry over in-process trainers."""

    def __init__(self, store: RunStore | None = None,
                 load_dataset: Callable[[str], Dataset] | None = None,
                 **registry_settings) -> None:
        """`load_dataset` (by name) defaults to the process-wide cache that pages read too."""
        self._workers = TrainerWorkers()
        self._load_dataset = load_dataset
        self.registry = RunRegistry(self._workers, store, **registry_settings)

    # --- making and freeing runs ------------------------------------------------------
    def create(self, owner: str, model_spec: S.ModelSpec, config: S.TrainingConfig,
               dataset_name: str, device: str = "auto", options: RunOptions | None = None,
               initial_weights: StateDict | None = None, *, address: str | None = None,
               origin: str = "") -> str:
        data = (self._load_dataset or shared.dataset)(dataset_name)
        run_id = secrets.token_urlsafe(8)
        trainer = T.Trainer(model_spec, data, config,
                            self._trainer_options(run_id, device, options, initial_weights))
        self._workers.add(run_id, LocalRun(trainer, dataset_name, data, dataset_note(data),
                                           origin=origin))
        try:
            self.registry.admit(run_id, owner, trainer.device.type, address)
        except RunLimitError:
            self._workers.release(run_id)
            raise
        return run_id

    def _trainer_options(self, run_id: str, device: str, options: RunOptions | None,
                         initial_weights: StateDict | None) -> T.TrainerOptions:
        return trainer_options(device, options, initial_weights,
                               on_state_change=lambda state: self.registry.wake(),
                               on_epoch_end=lambda record: self._epoch_ended(run_id))

    def _epoch_ended(self, run_id: str) -> None:
        self._workers.epoch_ended(run_id)
        self.registry.wake()

    def open_stored(self, owner: str, run_id: str, number: int | None = None) -> str | None:
        found = self.registry.stored_run(owner, run_id, number)
        if found is None:
            return None
        stored, weights = found
        if stored.state not in T.ENDED:  # stored at an epoch end and still training here
            return stored.run_id if self._workers.get(stored.run_id) is not None else None
        data = (self._load_dataset or shared.dataset)(stored.dataset_name)
        # Its own id while that is free (a reload's URL still names it), else a new one.
        opened = stored.run_id
        if self._workers.get(opened) is not None or self.registry.entry(opened) is not None:
            opened = secrets.token_urlsafe(8)
        # On the CPU: it is there to be read; training on makes a new run on any device.
        trainer = T.Trainer(stored.spec, data, stored.config,
                            self._trainer_options(opened, "cpu", None, weights))
        trainer.restore(stored.progress, stored.state, stored.message)
        self._workers.add(opened, LocalRun(trainer, stored.dataset_name, data,
                                           dataset_note(data), from_store=True))
        self.registry.readmit(opened, owner, stored.number, trainer.device.type, stored.state)
        return opened

    def free(self, run_id: str, *, owner: str | None = None) -> None:
        self.registry.remove(run_id, owner)

    def touch(self, run_id: str | None) -> bool:
        return self.registry.touch(run_id)

    def trainer(self, run_id: str | None) -> T.Trainer | None:
        """The live trainer, for tests and scripts in this process; pages never use it."""
        run = self._workers.get(run_id) if run_id else None
        return run.trainer if run is not None else None

    def _run(self, run_id: str) -> LocalRun:
        run = self._workers.get(run_id) if run_id else None
        if run is None:
            raise UnknownRunError(run_id)
        return run

    # --- commands ---------------------------------------------------------------------
    def start(self, run_id: str, *, owner: str | None = None) -> None:
        self.registry.request_start(run_id, owner)

    resume = start

    def pause(self, run_id: str, *, owner: str | None = None) -> None:
        self.registry.pause(run_id, owner)

    def _steppable(self, run_id: str, owner: str | None) -> T.Trainer | None:
        """The trainer, once the caller is its owner and the run has a place to train."""
        self.registry.check_owner(run_id, owner)
        self.registry.reclaim(run_id)
        return self.trainer(run_id)

    def step(self, run_id: str, batches: int = 1, *, owner: str | None = None) -> None:
        if (trainer := self._steppable(run_id, owner)) is not None:
            trainer.step(batches)

    def step_epoch(self, run_id: str, *, owner: str | None = None) -> None:
        if (trainer := self._steppable(run_id, owner)) is not None:
            trainer.step_epoch()

    def stop(self, run_id: str, *, owner: str | None = None) -> None:
        self.registry.stop(run_id, owner)

    def reset(self, run_id: str, *, owner: str | None = None) -> None:
        self.registry.reset(run_id, owner)

    def set_lr(self, run_id: str, lr: float, *, owner: str | None = None) -> None:
        self.registry.check_owner(run_id, owner)
        if (trainer := self.trainer(run_id)) is not None:
            trainer.set_lr(lr)

    def set_augment(self, run_id: str, augment: bool, *, owner: str | None = None) -> None:
        self.registry.check_owner(run_id, owner)
        if (trainer := self.trainer(run_id)) is not None:
            trainer.set_augment(augment)

    # --- reads --------------------------------------------------------------------------
    def status(self, run_id: str | None) -> RunStatus | None:
        run = self._workers.get(run_id) if run_id else None
        view = self.registry.view(run_id)
        if run is None or view is None:
            return None
        return dataclasses.replace(run_status(run_id, run), **dataclasses.asdict(view))

    def records(self, run_id: str, since_step: int = 0) -> RunRecords:
        return run_records(self._run(run_id).trainer, since_step)

    def test_predictions(self, run_id: str) -> TestPredictions | None:
        return self._run(run_id).trainer.test_predictions()

    def latest_weights(self, run_id: str) -> tuple[int, StateDict]:
        return self._run(run_id).trainer.latest_weights()

    def weight(self, run_id: str, name: str) -> tuple[int, torch.Tensor]:
        return self._run(run_id).trainer.tensor_copy(name)

    def snapshots(self, run_id: str) -> list[SnapshotInfo]:
        return run_snapshots(self._run(run_id).trainer)

    def snapshot_weights(self, run_id: str, snapshot_id: int) -> StateDict | None:
        """Snapshots are thinned while a run trains: an old id may be gone (None)."""
        return run_snapshot_weights(self._run(run_id).trainer, snapshot_id)

    def dataset_info(self, run_id: str) -> DatasetInfo:
        return run_dataset_info(self._run(run_id))

    # --- sessions -----------------------------------------------------------------------
    def owner_of(self, run_id: str | None) -> str | None:
        return self.registry.owner_of(run_id)

    def history(self, owner: str) -> list[RunSummary]:
        return self.registry.history(owner)

    def evictions(self, owner: str) -> list[str]:
        return self.registry.evictions(owner)

    def all_runs(self) -> list[RunStatus]:
        found = (self.status(run_id) for run_id in self.registry.run_ids())
        return sorted((s for s in found if s is not None), key=lambda s: -s.age_seconds)

    @property
    def max_active(self) -> int:
        return self.registry.max_active

    def close(self) -> None:
        self.registry.close()


# --- one run's reads and settings, shared with the Ray backend's run actor ---------------------

def trainer_options(device: str, options: RunOptions | None, initial_weights: StateDict | None,
                    on_state_change: Callable[[str], None],
                    on_epoch_end: Callable[[object], None]) -> T.TrainerOptions:
    observed = dataclasses.asdict(options or RunOptions())
    return T.TrainerOptions(
        device=device, thread_nice=BACKGROUND_NICE, initial_weights=initial_weights,
        on_state_change=on_state_change, on_epoch_end=on_epoch_end, **observed)


def run_status(run_id: str, run: LocalRun) -> RunStatus:
    """The trainer's part of the status; the registry's fields (owner, number, queue, idle
    note, age, connection, place) are left empty for the caller to fill in."""
    trainer = run.trainer
    return RunStatus(
        run_id=run_id, owner="", number=0, state=trainer.state,
        message=trainer.message, step=trainer.step_count, epoch=trainer.epoch,
        busy=trainer.busy, pending_steps=trainer.pending_steps, queued=False,
        queue_position=None, lr=trainer.current_lr, lr_set=_lr_set(trainer),
        remaining_seconds=trainer.remaining_seconds(),
        train_seconds=trainer.train_seconds, steps_per_epoch=trainer.steps_per_epoch,
        total_steps=trainer.total_steps, device=str(trainer.device), spec=trainer.spec,
        config=dataclasses.replace(trainer.config), dataset_note=run.dataset_note,
        from_store=run.from_store, origin=run.origin)


def run_records(trainer: T.Trainer, since_step: int = 0) -> RunRecords:
    # Read before the lists: while the thread is in a step, the records of the step
    # it counted last may still be coming, so they wait for the next read.
    busy, step = trainer.busy, trainer.step_count
    through = step - 1 if busy else step
    steps, evals, epochs = trainer.history()
    norms = trainer.norm_history()
    lr_changes = trainer.lr_history()

    def new(records):
        return [r for r in records if since_step < r.step <= through]

    def epoch_end(record) -> int:
        # An epoch cut short (target reached, time limit) ends at the run's last step.
        return min(math.ceil(record.epoch * trainer.steps_per_epoch), step)

    return RunRecords(through, new(steps), new(evals),
                      [e for e in epochs if since_step < epoch_end(e) <= through],
                      new(norms), new(lr_changes))


def run_snapshots(trainer: T.Trainer) -> list[SnapshotInfo]:
    # A step has at most one snapshot, so the step names it.
    return [SnapshotInfo(s.step, s.step, s.epoch) for s in trainer.snapshots()]


def run_snapshot_weights(trainer: T.Trainer, snapshot_id: int) -> StateDict | None:
    # The trainer never changes a snapshot once taken, so it is handed over as it is.
    return next((s.state for s in trainer.snapshots() if s.step == snapshot_id), None)


def run_dataset_info(run: LocalRun) -> DatasetInfo:
    data = run.dataset
    return DatasetInfo(
        name=run.dataset_name, classes=list(data.classes), input_shape=data.input_shape,
        train_size=len(data.train_y), test_size=len(data.test_y), mean=tuple(data.mean),
        std=tuple(data.std), source=data.source, note=run.dataset_note,
        samples=data.train_x[:SAMPLE_IMAGES].to("cpu", copy=True))


def dataset_note(data: Dataset) -> str:
    return f"Training on {data.source}." if data.is_subset else ""


def _lr_set(trainer: T.Trainer) -> float:
    """The learning rate last set by hand, else the configured one (the schedule's rate of
    the moment is RunStatus.lr)."""
    changes = trainer.lr_history()
    return changes[-1].lr if changes else trainer.config.lr
