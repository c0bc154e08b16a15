"""One run as a Ray actor: a Trainer training in a thread of the actor's own process.

The actor is named (`ray_cluster.run_actor_name`) and detached, so it outlives the web
replica that made it and any replica finds it by the run id. It answers several calls at
once (`max_concurrency`), so reads come back while its thread trains. It knows nothing of
owners or caps: the registry actor checks those before a command reaches it, and it tells
the registry when its trainer changes state or ends an epoch, as the thread backend does.
What it returns is plain data (dataclasses, records, CPU tensors).
"""
from __future__ import annotations

import torch

from playground import spec as S
from playground.analysis.diagnostics import TestPredictions
from playground.runs import local
from playground.runs.executor import (DatasetInfo, RunOptions, RunRecords, RunStatus,
                                      SnapshotInfo, StateDict)
from playground.runs.ray_datasets import unpack
from playground.runs.store import StoredRun
from playground.train import trainer as T
from playground.train.records import RunProgress

# Calls one run actor answers at once: reads from several pages while commands wait for
# the trainer's lock.
RUN_ACTOR_CONCURRENCY = 8


class RunActor:
    """The registry's Workers for one run, plus the run's reads."""

    def __init__(self, run_id: str, registry, model_spec: S.ModelSpec,
                 config: S.TrainingConfig, dataset_name: str, packed: list,
                 device: str, options: RunOptions | None,
                 initial_weights: StateDict | None,
                 restored: tuple[RunProgress, str, str] | None = None,
                 origin: str = "") -> None:
        """`packed` holds the dataset's object reference in a list, so Ray hands the
        reference over instead of the arrays and the actor reads it from its node's store.
        `restored` is (progress, state, message) of a stored run opened to be read."""
        import ray
        data = unpack(ray.get(packed[0]))
        self.run_id, self._registry = run_id, registry
        self._workers = local.TrainerWorkers()
        trainer = T.Trainer(model_spec, data, config, local.trainer_options(
            device, options, initial_weights, on_state_change=self._state_changed,
            on_epoch_end=self._epoch_ended))
        if restored is not None:
            trainer.restore(*restored)
        self._workers.add(run_id, local.LocalRun(trainer, dataset_name, data,
                                                 local.dataset_note(data),
                                                 from_store=restored is not None,
                                                 origin=origin))

    def _state_changed(self, state: str) -> None:
        self._registry.wake.remote(self.run_id)

    def _epoch_ended(self, record) -> None:
        self._workers.epoch_ended(self.run_id)
        self._registry.wake.remote(self.run_id)

    @property
    def _run(self) -> local.LocalRun:
        return self._workers.get(self.run_id)

    @property
    def _trainer(self) -> T.Trainer:
        return self._run.trainer

    # --- what the registry asks (its Workers) -----------------------------------------------
    def ready(self) -> str:
        """Answers once the actor is placed and its trainer made: the node it runs on."""
        import ray
        return ray.get_runtime_context().get_node_id()

    def probe(self) -> tuple[str, bool, int]:
        """(state, holding a slot, step) in one call: the registry's sweep asks this."""
        trainer = self._trainer
        return trainer.state, trainer.busy and not trainer.stopping, trainer.step_count

    def begin(self) -> None:
        self._workers.begin(self.run_id)

    def pause(self) -> None:
        self._workers.pause(self.run_id)

    def stop(self) -> None:
        self._workers.stop(self.run_id)

    def reinitialise(self) -> None:
        self._workers.reinitialise(self.run_id)

    def unsaved_epoch(self) -> bool:
        return self._workers.unsaved_epoch(self.run_id)

    def stored(self, owner: str, number: int) -> tuple[StoredRun, StateDict] | None:
        return self._workers.stored(self.run_id, owner, number)

    def close(self) -> None:
        """Stop training and drop the trainer before the actor is killed."""
        self._workers.stop(self.run_id)

    # --- commands the executor sends once the registry passed them -----------------------------
    def step(self, batches: int) -> None:
        self._trainer.step(batches)

    def step_epoch(self) -> None:
        self._trainer.step_epoch()

    def set_lr(self, lr: float) -> None:
        self._trainer.set_lr(lr)

    def set_augment(self, augment: bool) -> None:
        self._trainer.set_augment(augment)

    # --- reads -----------------------------------------------------------------------------
    def status(self) -> RunStatus:
        return local.run_status(self.run_id, self._run)

    def records(self, since_step: int = 0) -> RunRecords:
        return local.run_records(self._trainer, since_step)

    def test_predictions(self) -> TestPredictions | None:
        return self._trainer.test_predictions()

    def latest_weights(self) -> tuple[int, StateDict]:
        return self._trainer.latest_weights()

    def weight(self, name: str) -> tuple[int, torch.Tensor]:
        return self._trainer.tensor_copy(name)

    def snapshots(self) -> list[SnapshotInfo]:
        return local.run_snapshots(self._trainer)

    def snapshot_weights(self, snapshot_id: int) -> StateDict | None:
        return local.run_snapshot_weights(self._trainer, snapshot_id)

    def dataset_info(self) -> DatasetInfo:
        return local.run_dataset_info(self._run)
