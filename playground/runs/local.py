"""The in-process backend: each run is a Trainer training in a thread of this process.

Datasets come from the process-wide cache (playground.data.shared) and are shared
read-only by every run. Trainer state changes wake the registry, so a freed training slot
goes to the next run in line at once.
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
from playground.runs.store import RunStore
from playground.train import trainer as T
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
        if (trainer := self._trainer(run_id)) is not None:
            trainer.reset()

    def summary(self, run_id: str, number: int) -> RunSummary | None:
        trainer = self._trainer(run_id)
        if trainer is None:
            return None
        steps, evals, epochs = trainer.history()
        return RunSummary(run_id, number, trainer.spec, dataclasses.replace(trainer.config),
                          str(trainer.device), steps, evals, epochs, trainer.state)

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
               dataset_name: str, device: str = "auto",
               options: RunOptions | None = None) -> str:
        data = (self._load_dataset or shared.dataset)(dataset_name)
        observed = dataclasses.asdict(options or RunOptions())
        trainer = T.Trainer(model_spec, data, config, T.TrainerOptions(
            device=device, thread_nice=BACKGROUND_NICE,
            on_state_change=lambda state: self.registry.wake(), **observed))
        run_id = secrets.token_urlsafe(8)
        note = f"Training on {data.source}." if data.is_subset else ""
        self._workers.add(run_id, LocalRun(trainer, dataset_name, data, note))
        try:
            self.registry.admit(run_id, owner, trainer.device.type)
        except RunLimitError:
            self._workers.release(run_id)
            raise
        return run_id

    def free(self, run_id: str) -> None:
        self.registry.remove(run_id)

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
    def start(self, run_id: str) -> None:
        self.registry.request_start(run_id)

    resume = start

    def pause(self, run_id: str) -> None:
        self.registry.pause(run_id)

    def step(self, run_id: str, batches: int = 1) -> None:
        if (trainer := self.trainer(run_id)) is not None:
            trainer.step(batches)

    def step_epoch(self, run_id: str) -> None:
        if (trainer := self.trainer(run_id)) is not None:
            trainer.step_epoch()

    def stop(self, run_id: str) -> None:
        self.registry.stop(run_id)

    def reset(self, run_id: str) -> None:
        self.registry.reset(run_id)

    def set_lr(self, run_id: str, lr: float) -> None:
        if (trainer := self.trainer(run_id)) is not None:
            trainer.set_lr(lr)

    def set_augment(self, run_id: str, augment: bool) -> None:
        if (trainer := self.trainer(run_id)) is not None:
            trainer.set_augment(augment)

    # --- reads --------------------------------------------------------------------------
    def status(self, run_id: str | None) -> RunStatus | None:
        run = self._workers.get(run_id) if run_id else None
        entry = self.registry.entry(run_id)
        if run is None or entry is None:
            return None
        trainer = run.trainer
        return RunStatus(
            run_id=run_id, owner=entry.owner, number=entry.number, state=trainer.state,
            message=trainer.message, step=trainer.step_count, epoch=trainer.epoch,
            busy=trainer.busy, pending_steps=trainer.pending_steps,
            queued=self.registry.is_queued(run_id),
            queue_position=self.registry.queue_position(run_id), lr=trainer.current_lr,
            remaining_seconds=trainer.remaining_seconds(),
            train_seconds=trainer.train_seconds, steps_per_epoch=trainer.steps_per_epoch,
            total_steps=trainer.total_steps, device=str(trainer.device), spec=trainer.spec,
            config=dataclasses.replace(trainer.config), idle_note=entry.idle_note,
            dataset_note=run.dataset_note)

    def records(self, run_id: str, since_step: int = 0) -> RunRecords:
        trainer = self._run(run_id).trainer
        # Read before the lists: while the thread is in a step, the records of the step
        # it counted last may still be coming, so they wait for the next read.
        busy, step = trainer.busy, trainer.step_count
        through = step - 1 if busy else step
        steps, evals, epochs = trainer.history()
        norms = trainer.norm_history()

        def new(records):
            return [r for r in records if since_step < r.step <= through]

        def epoch_end(record) -> int:
            # An epoch cut short (target reached, time limit) ends at the run's last step.
            return min(math.ceil(record.epoch * trainer.steps_per_epoch), step)

        return RunRecords(through, new(steps), new(evals),
                          [e for e in epochs if since_step < epoch_end(e) <= through],
                          new(norms))

    def test_predictions(self, run_id: str) -> TestPredictions | None:
        return self._run(run_id).trainer.test_predictions()

    def latest_weights(self, run_id: str) -> tuple[int, StateDict]:
        return self._run(run_id).trainer.latest_weights()

    def weight(self, run_id: str, name: str) -> tuple[int, torch.Tensor]:
        return self._run(run_id).trainer.tensor_copy(name)

    def snapshots(self, run_id: str) -> list[SnapshotInfo]:
        # A step has at most one snapshot, so the step names it.
        return [SnapshotInfo(s.step, s.step, s.epoch)
                for s in self._run(run_id).trainer.snapshots()]

    def snapshot_weights(self, run_id: str, snapshot_id: int) -> StateDict | None:
        """Snapshots are thinned while a run trains: an old id may be gone (None)."""
        # The trainer never changes a snapshot once taken, so it is handed over as it is.
        return next((s.state for s in self._run(run_id).trainer.snapshots()
                     if s.step == snapshot_id), None)

    def dataset_info(self, run_id: str) -> DatasetInfo:
        run = self._run(run_id)
        data = run.dataset
        return DatasetInfo(
            name=run.dataset_name, classes=list(data.classes), input_shape=data.input_shape,
            train_size=len(data.train_y), test_size=len(data.test_y), mean=tuple(data.mean),
            std=tuple(data.std), source=data.source, note=run.dataset_note,
            samples=data.train_x[:SAMPLE_IMAGES].to("cpu", copy=True))

    # --- sessions -----------------------------------------------------------------------
    def owner_of(self, run_id: str | None) -> str | None:
        return self.registry.owner_of(run_id)

    def history(self, owner: str) -> list[RunSummary]:
        return self.registry.history(owner)

    def close(self) -> None:
        self.registry.close()
