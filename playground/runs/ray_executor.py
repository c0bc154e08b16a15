"""The Ray backend (`PLAYGROUND_EXECUTOR=ray`): the Executor interface over a Ray cluster.

Each run is a detached, named actor (`run_actor.RunActor`) holding one trainer; its
cores and GPU share are declared to Ray, which places it on a node (queueing it while no
node has them free). The rules (owners, caps, liveness, idle pause, the run store) live in
one detached registry actor (`registry_actor.RegistryActor`) that every web replica shares.
This object holds nothing a restart loses: a run id finds the run's actor by name from any
web replica, and commands still pass the registry's owner check.

Reads of a running run go straight to its actor, the registry's part of the status is one
call to the registry, and the two are sent together, so a page's refresh costs one round
trip per read. Records come as deltas (`records(run_id, since_step)`), weights only when
asked for.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import secrets
import threading
from typing import Callable

import ray
import torch
from ray.exceptions import RayActorError, RayTaskError

from playground import spec as S
from playground.analysis.diagnostics import TestPredictions
from playground.data.datasets import Dataset
from playground.model import build as M
from playground.runs import ray_cluster
from playground.runs.executor import (DatasetInfo, RunOptions, RunRecords, RunStatus,
                                      RunSummary, SnapshotInfo, StateDict, UnknownRunError)
from playground.runs.ray_cluster import (CPUS_PER_RUN, NAMESPACE, REGISTRY_NAME, RUNS_PER_GPU,
                                         run_actor_name)
from playground.runs.registry import Liveness
from playground.runs.registry_actor import RegistryActor
from playground.runs.run_actor import RUN_ACTOR_CONCURRENCY, RunActor
from playground.train import trainer as T
from playground.train.records import RunProgress

log = logging.getLogger(__name__)

REGISTRY_CONCURRENCY = 64    # pages of every replica, the reaper and the run actors at once
REPORT_SECONDS = 1.0         # how often this replica tells the registry its connected pages
READ_TIMEOUT_SECONDS = 30.0  # a read of a dead node's actor gives up after this


def _get(ref, timeout: float | None = None):
    """ray.get, raising the remote function's own exception (RunLimitError, SpecError,
    NotOwnerError...) rather than Ray's wrapper, whose text holds a traceback."""
    try:
        return ray.get(ref, timeout=timeout)
    except RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise


class RayExecutor:
    """The Executor of a web replica on a Ray cluster."""

    def __init__(self, load_dataset: Callable[[str], Dataset] | None = None,
                 store_folder: str | None = None, liveness: Liveness | None = None,
                 registry_name: str = REGISTRY_NAME, address: str | None = None,
                 stop_runs_on_close: bool = False, **registry_settings) -> None:
        """`load_dataset` and `store_folder` (see RegistryActor) and the registry settings
        count only when this call makes the registry actor; later replicas join it."""
        ray_cluster.connect(address)
        self._registry = ray.remote(RegistryActor).options(
            name=registry_name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
            max_concurrency=REGISTRY_CONCURRENCY, num_cpus=0,
            # The store's SQLite folder is on the head node: the registry lives there.
            resources={"node:__internal_head__": 0.001},
        ).remote(store_folder, load_dataset, **registry_settings)
        self._run_class = ray.remote(RunActor)
        self._handles: dict[str, object] = {}
        self._placed: set[str] = set()
        self._steps_seen: dict[str, int] = {}  # the last step a read here returned
        self._initial: dict[str, StateDict] = {}  # weights given to runs made here
        self._stop_runs_on_close = stop_runs_on_close
        self.replica = secrets.token_hex(6)
        self._liveness: Liveness | None = None
        self._closed = threading.Event()
        self._reporter: threading.Thread | None = None
        self.liveness = liveness

    # --- liveness: this replica's connected pages, reported to the shared registry ---------
    @property
    def liveness(self) -> Liveness | None:
        return self._liveness

    @liveness.setter
    def liveness(self, liveness: Liveness | None) -> None:
        self._liveness = liveness
        if liveness is not None and self._reporter is None:
            self._reporter = threading.Thread(target=self._report, name="liveness-report",
                                              daemon=True)
            self._reporter.start()

    def _report(self) -> None:
        while not self._closed.wait(REPORT_SECONDS):
            try:
                run_ids = _get(self._registry.run_ids.remote())
                connected = self._liveness(run_ids) if self._liveness else None
                self._registry.report_connected.remote(
                    self.replica, None if connected is None else sorted(connected))
            except Exception:  # the registry restarting must not end the reports
                log.exception("reporting connected pages to the registry failed")

    # --- making and freeing runs ------------------------------------------------------
    def create(self, owner: str, model_spec: S.ModelSpec, config: S.TrainingConfig,
               dataset_name: str, device: str = "auto", options: RunOptions | None = None,
               initial_weights: StateDict | None = None, *, address: str | None = None,
               origin: str = "") -> str:
        input_shape, classes, train_size, is_subset, source = _get(
            self._registry.dataset_facts.remote(dataset_name))
        # The checks the trainer makes, here, so that a bad spec is refused at once and not
        # by an actor that Ray may place minutes later.
        T.check_fits(model_spec, input_shape, len(classes), dataset_name)
        M.check_batch(M.analyze(model_spec), config.batch_size)
        device = _device(device)
        run_id = secrets.token_urlsafe(8)
        placeholder = dataclasses.replace(
            _placeholder(run_id, model_spec, config, device, train_size,
                         f"Training on {source}." if is_subset else ""), origin=origin)
        _get(self._registry.admit.remote(run_id, owner, device, address, placeholder,
                                         dataset_name))
        self._make_actor(run_id, model_spec, config, dataset_name, device, options,
                         initial_weights, origin=origin)
        if initial_weights is not None:
            self._initial[run_id] = initial_weights
        return run_id

    def _make_actor(self, run_id: str, model_spec: S.ModelSpec, config: S.TrainingConfig,
                    dataset_name: str, device: str, options: RunOptions | None,
                    initial_weights: StateDict | None,
                    restored: tuple[RunProgress, str, str] | None = None,
                    origin: str = "") -> None:
        packed = _get(self._registry.dataset.remote(dataset_name))
        # A run opened from the store is there to be read: it reserves no cores.
        cpus = 0 if restored is not None else CPUS_PER_RUN
        gpus = 1 / RUNS_PER_GPU if device == "cuda" and restored is None else 0
        self._handles[run_id] = self._run_class.options(
            name=run_actor_name(run_id), namespace=NAMESPACE, lifetime="detached",
            num_cpus=cpus, num_gpus=gpus, max_concurrency=RUN_ACTOR_CONCURRENCY,
            # Runs spread over the nodes with room: a lost node takes as few as it can.
            max_restarts=0, scheduling_strategy="SPREAD",
        ).remote(run_id, self._registry, model_spec, config, dataset_name, packed, device,
                 options, initial_weights, restored, origin)

    def open_stored(self, owner: str, run_id: str, number: int | None = None) -> str | None:
        found = _get(self._registry.stored_run.remote(owner, run_id, number))
        if found is None:
            return None
        stored, weights = found
        if stored.state not in T.ENDED:  # stored at an epoch end and still training
            exists = _get(self._registry.entry_exists.remote(stored.run_id))
            return stored.run_id if exists else None
        opened = stored.run_id
        if _get(self._registry.entry_exists.remote(opened)) or self._actor(opened) is not None:
            opened = secrets.token_urlsafe(8)
        placeholder = dataclasses.replace(
            _placeholder(opened, stored.spec, stored.config, "cpu", 0, ""),
            state=stored.state, message=stored.message, step=stored.progress.step,
            steps_per_epoch=stored.steps_per_epoch,
            total_steps=stored.steps_per_epoch * stored.config.epochs, from_store=True,
            train_seconds=stored.progress.train_seconds)
        _get(self._registry.readmit.remote(opened, owner, stored.number, "cpu", stored.state,
                                           placeholder, stored.dataset_name))
        self._make_actor(opened, stored.spec, stored.config, stored.dataset_name, "cpu",
                         None, weights, (stored.progress, stored.state, stored.message))
        return opened

    def free(self, run_id: str, *, owner: str | None = None) -> None:
        _get(self._registry.remove.remote(run_id, owner))
        self._handles.pop(run_id, None)
        self._placed.discard(run_id)
        self._steps_seen.pop(run_id, None)
        self._initial.pop(run_id, None)

    def touch(self, run_id: str | None) -> bool:
        return bool(run_id) and _get(self._registry.touch.remote(run_id))

    # --- commands ---------------------------------------------------------------------
    def start(self, run_id: str, *, owner: str | None = None) -> None:
        _get(self._registry.request_start.remote(run_id, owner))

    resume = start

    def pause(self, run_id: str, *, owner: str | None = None) -> None:
        _get(self._registry.pause.remote(run_id, owner))

    def stop(self, run_id: str, *, owner: str | None = None) -> None:
        _get(self._registry.stop.remote(run_id, owner))

    def reset(self, run_id: str, *, owner: str | None = None) -> None:
        _get(self._registry.reset.remote(run_id, owner))

    def step(self, run_id: str, batches: int = 1, *, owner: str | None = None) -> None:
        if _get(self._registry.steppable.remote(run_id, owner)):
            self._command(run_id, "step", batches)

    def step_epoch(self, run_id: str, *, owner: str | None = None) -> None:
        if _get(self._registry.steppable.remote(run_id, owner)):
            self._command(run_id, "step_epoch")

    def set_lr(self, run_id: str, lr: float, *, owner: str | None = None) -> None:
        _get(self._registry.check_owner.remote(run_id, owner))
        self._command(run_id, "set_lr", lr)

    def set_augment(self, run_id: str, augment: bool, *, owner: str | None = None) -> None:
        _get(self._registry.check_owner.remote(run_id, owner))
        self._command(run_id, "set_augment", augment)

    def _command(self, run_id: str, method: str, *args) -> None:
        """To a placed actor, waiting for it; to one Ray has not placed yet, queued behind
        its constructor. Commands to a gone or lost run do nothing."""
        handle = self._placed_actor(run_id)
        if handle is None:
            if (pending := self._actor(run_id)) is not None:
                getattr(pending, method).remote(*args)
            return
        try:
            _get(getattr(handle, method).remote(*args))
        except RayActorError:
            self._lost(run_id)

    # --- reads --------------------------------------------------------------------------
    def status(self, run_id: str | None) -> RunStatus | None:
        if not run_id:
            return None
        view_ref = self._registry.view.remote(run_id)
        # Sent together: the actor's answer comes while the registry's does.
        status_ref = (self._handles[run_id].status.remote()
                      if run_id in self._placed and run_id in self._handles else None)
        view, placed, stand_in = _get(view_ref)
        if view is None:
            return None
        if not placed and run_id in self._placed:
            # Placed before, so the registry found it lost: tell it the last step read here.
            self._lost(run_id)
            view, placed, stand_in = _get(self._registry.view.remote(run_id))
            if view is None:
                return None
        if placed and status_ref is None and (handle := self._placed_actor(run_id)):
            status_ref = handle.status.remote()
        if placed and status_ref is not None:
            try:
                trainer_part = _get(status_ref, READ_TIMEOUT_SECONDS)
                self._saw(run_id, trainer_part.step)
                return dataclasses.replace(trainer_part, **dataclasses.asdict(view))
            except RayActorError:
                self._lost(run_id)
                view, placed, stand_in = _get(self._registry.view.remote(run_id))
                if view is None:
                    return None
        if stand_in is None:
            return None
        merged = dataclasses.asdict(view)
        merged["queued"] = view.queued or stand_in.queued
        return dataclasses.replace(stand_in, **merged)

    def records(self, run_id: str, since_step: int = 0) -> RunRecords:
        handle = self._readable(run_id)
        if handle is not None:
            try:
                found = _get(handle.records.remote(since_step), READ_TIMEOUT_SECONDS)
                self._saw(run_id, found.through_step)
                return found
            except RayActorError:
                self._lost(run_id)
        if not self._exists(run_id):
            raise UnknownRunError(run_id)
        # Not placed yet (nothing trained), or lost with its node: what the store kept.
        progress = _get(self._registry.stored_progress.remote(run_id))
        if progress is None:
            return RunRecords(since_step, [], [], [], [], [])
        return _stored_records(progress, since_step)

    def test_predictions(self, run_id: str) -> TestPredictions | None:
        return self._read(run_id, "test_predictions", default=lambda _: None)

    def latest_weights(self, run_id: str) -> tuple[int, StateDict]:
        return self._read(run_id, "latest_weights", default=self._first_weights)

    def weight(self, run_id: str, name: str) -> tuple[int, torch.Tensor]:
        def first(run_id: str) -> tuple[int, torch.Tensor]:
            step, weights = self._first_weights(run_id)
            return step, weights[name]
        return self._read(run_id, "weight", name, default=first)

    def snapshots(self, run_id: str) -> list[SnapshotInfo]:
        return self._read(run_id, "snapshots", default=lambda _: [SnapshotInfo(0, 0, 0.0)])

    def snapshot_weights(self, run_id: str, snapshot_id: int) -> StateDict | None:
        def first(run_id: str) -> StateDict | None:
            return self._first_weights(run_id)[1] if snapshot_id == 0 else None
        return self._read(run_id, "snapshot_weights", snapshot_id, default=first)

    def dataset_info(self, run_id: str) -> DatasetInfo:
        def from_registry(run_id: str) -> DatasetInfo:
            info = _get(self._registry.dataset_info.remote(run_id))
            if info is None:
                raise UnknownRunError(run_id)
            return info
        return self._read(run_id, "dataset_info", default=from_registry)

    def _first_weights(self, run_id: str) -> tuple[int, StateDict]:
        """A run Ray has not placed yet has its first weights, drawn as its trainer will
        draw them (from its seed, or the weights it was made with here)."""
        if run_id in self._initial:
            return 0, self._initial[run_id]
        status = self.status(run_id)
        if status is None:
            raise UnknownRunError(run_id)
        network = M.build_model(status.spec, "cpu",
                                torch.Generator().manual_seed(status.config.seed))
        return 0, {name: tensor.detach().clone()
                   for name, tensor in network.state_dict().items()}

    def _read(self, run_id: str, method: str, *args, default=None):
        """A read from the run's actor; when there is no placed, living actor to ask,
        `default(run_id)` answers for a run the registry holds (UnknownRunError for
        others, or without a default)."""
        handle = self._readable(run_id)
        if handle is not None:
            try:
                return _get(getattr(handle, method).remote(*args), READ_TIMEOUT_SECONDS)
            except RayActorError:
                self._lost(run_id)
        if default is not None and self._exists(run_id):
            return default(run_id)
        raise UnknownRunError(run_id)

    def _readable(self, run_id: str):
        """The actor of a run the registry holds, once placed; else None (UnknownRunError
        when the registry has no such run). A run seen placed before is read straight away:
        a freed or lost one's actor says so by failing."""
        if run_id and run_id in self._placed and (handle := self._actor(run_id)):
            return handle
        if not run_id or not self._exists(run_id):
            raise UnknownRunError(run_id)
        return self._placed_actor(run_id)

    def _exists(self, run_id: str) -> bool:
        return bool(_get(self._registry.entry_exists.remote(run_id)))

    # --- run actors by name -------------------------------------------------------------
    def _actor(self, run_id: str):
        handle = self._handles.get(run_id)
        if handle is None:
            try:
                handle = ray.get_actor(run_actor_name(run_id), namespace=NAMESPACE)
            except ValueError:
                return None
            self._handles[run_id] = handle
        return handle

    def _placed_actor(self, run_id: str):
        """The actor once Ray placed it (asked of the registry until it is, then kept)."""
        if run_id not in self._placed:
            view, placed, _ = _get(self._registry.view.remote(run_id))
            if not placed:
                return None
            self._placed.add(run_id)
        return self._actor(run_id)

    def _saw(self, run_id: str, step: int) -> None:
        self._steps_seen[run_id] = max(step, self._steps_seen.get(run_id, 0))

    def _lost(self, run_id: str) -> None:
        self._placed.discard(run_id)
        self._handles.pop(run_id, None)
        _get(self._registry.lost.remote(run_id, self._steps_seen.pop(run_id, 0)))

    # --- sessions -----------------------------------------------------------------------
    def owner_of(self, run_id: str | None) -> str | None:
        return _get(self._registry.owner_of.remote(run_id)) if run_id else None

    def history(self, owner: str) -> list[RunSummary]:
        return _get(self._registry.history.remote(owner))

    def evictions(self, owner: str) -> list[str]:
        return _get(self._registry.evictions.remote(owner))

    def all_runs(self) -> list[RunStatus]:
        found = (self.status(run_id) for run_id in _get(self._registry.run_ids.remote()))
        return sorted((s for s in found if s is not None), key=lambda s: -s.age_seconds)

    @property
    def max_active(self) -> int:
        return _get(self._registry.max_active.remote())

    def close(self) -> None:
        """Stop reporting this replica's pages. The runs and the registry belong to the
        cluster and go on (another replica, or this one restarted, finds them), unless
        this executor was made to stop them (tests)."""
        self._closed.set()
        if self._reporter is not None:
            self._reporter.join(5)
        if self._stop_runs_on_close:
            _get(self._registry.close.remote())
            ray.kill(self._registry, no_restart=True)


def _device(device: str) -> str:
    """Where the run trains: a GPU when asked for, or on "auto" when the cluster has any."""
    if device == "auto":
        return "cuda" if ray_cluster.has_gpus() else "cpu"
    return torch.device(device).type


def _placeholder(run_id: str, model_spec: S.ModelSpec, config: S.TrainingConfig, device: str,
                 train_size: int, dataset_note: str) -> RunStatus:
    """The trainer's part of the status of a run Ray has not placed yet."""
    steps_per_epoch = max(1, math.ceil(train_size / config.batch_size))
    return RunStatus(
        run_id=run_id, owner="", number=0, state=T.READY, message="", step=0, epoch=0.0,
        busy=False, pending_steps=0, queued=False, queue_position=None, lr=config.lr,
        lr_set=config.lr, remaining_seconds=None, train_seconds=0.0,
        steps_per_epoch=steps_per_epoch, total_steps=steps_per_epoch * config.epochs,
        device=device, spec=model_spec, config=dataclasses.replace(config),
        dataset_note=dataset_note)


def _stored_records(progress: RunProgress, since_step: int) -> RunRecords:
    def new(records):
        return [r for r in records if r.step > since_step]

    return RunRecords(max(since_step, progress.step), new(progress.steps),
                      new(progress.evals), [], [], new(progress.lr_changes))
