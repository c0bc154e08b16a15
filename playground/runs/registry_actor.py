"""The run registry of a whole Ray cluster, in one detached, named actor on the head node.

Every web replica talks to this one registry, so they all see the same runs, owners, caps,
liveness and run store (SQLite in the head node's state folder). It is the same
`RunRegistry` as the thread backend's, over `ActorWorkers`: the run actors, reached by name.

Ray, not the registry, decides where and when a run trains: a run declares the cores (and
GPU share) it needs and Ray places its actor when a node has them free. Until then the run
is "waiting for a worker", and it already holds its place under the caps. A run whose actor
dies with its node turns "failed" at the last step the registry saw, and its last stored
epoch stays in the store.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import ray
from ray.exceptions import GetTimeoutError, RayActorError

from playground.data import shared
from playground.data.datasets import Dataset
from playground.runs.executor import DatasetInfo, RunStatus, RunSummary, StateDict
from playground.runs.local import SAMPLE_IMAGES
from playground.runs.ray_cluster import NAMESPACE, run_actor_name
from playground.runs.ray_datasets import pack
from playground.runs.registry import RegistryView, RunRegistry
from playground.runs.sqlite_store import open_store
from playground.runs.store import InMemoryStore, RunStore, StoredRun
from playground.train import trainer as T

log = logging.getLogger(__name__)

WAITING_FOR_WORKER = "waiting for a worker"
# How long the registry waits for a run actor's answer before it keeps what it knew: a node
# that has just died answers nothing until Ray notices, and a page must not wait for that.
PROBE_TIMEOUT_SECONDS = 2.0
# A probe this recent answers for the actor: the registry asks for a run's state many times
# in one sweep or one page's status, and each answer is a round trip to another process.
PROBE_FRESH_SECONDS = 0.5
COMMAND_TIMEOUT_SECONDS = 10.0
# A web replica's report of its connected pages counts this long (it reports every second).
REPORT_FRESH_SECONDS = 5.0
# Ray places the runs, so the registry's own per-device slots never hold one back.
UNLIMITED_SLOTS = {"cpu": 1_000_000, "cuda": 1_000_000, "mps": 1_000_000}


def lost_message(step: int) -> str:
    return f"the worker running it was lost at step {step}"


@dataclass
class ActorRun:
    """What the registry knows of one run actor."""

    placeholder: RunStatus       # the trainer's part of the status before it is placed
    dataset_name: str = ""
    handle: object | None = None
    ready: object | None = None  # ObjectRef of `ready()`: resolves once placed
    placed: bool = False
    wanted: str = T.READY        # what was asked of it before it was placed
    state: str = T.READY         # as last probed
    step: int = 0                # as last probed
    busy: bool = False           # holding a slot, as last probed
    probed_at: float = 0.0       # time.monotonic() of the last probe; 0 after a command
    failed: str = ""             # lost with its node, or its actor could not start
    steps_waiting: bool = False  # steps were sent before it was placed


class ActorWorkers:
    """The registry's Workers: run actors by run id. Commands wait for the actor's answer
    (so the registry decides on its new state); reads of state are probes with a timeout."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self._runs: dict[str, ActorRun] = {}
        self._lock = threading.Lock()

    def add(self, run_id: str, placeholder: RunStatus, dataset_name: str) -> None:
        with self._lock:
            self._runs[run_id] = ActorRun(placeholder, dataset_name)

    def get(self, run_id: str) -> ActorRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def _handle(self, run: ActorRun, run_id: str):
        if run.handle is None:
            try:
                run.handle = ray.get_actor(run_actor_name(run_id), namespace=NAMESPACE)
            except ValueError:
                return None  # its web replica is still making it
            run.ready = run.handle.ready.remote()
        return run.handle

    def is_placed(self, run_id: str) -> bool:
        """Placed on a node with its trainer made (asks Ray without waiting)."""
        run = self.get(run_id)
        if run is None or run.failed:
            return False
        if not run.placed and self._handle(run, run_id) is not None:
            done, _ = ray.wait([run.ready], timeout=0)
            if done:
                try:
                    ray.get(run.ready)
                    run.placed = True
                except RayActorError as error:
                    self._fail(run, _start_failure(error))
        return run.placed

    def _fail(self, run: ActorRun, message: str) -> None:
        if not run.failed:
            run.failed, run.state = message, T.FAILED
            log.warning("run failed: %s", message)

    def lost(self, run_id: str, step: int = 0) -> None:
        """A caller found the actor dead, having seen it reach `step`: the run failed at
        the last step anyone saw (a page may have read a step the last probe had not)."""
        run = self.get(run_id)
        if run is None:
            return
        if not run.failed or run.failed == lost_message(run.step):
            run.step = max(run.step, step)
            run.failed = ""
            self._fail(run, lost_message(run.step))

    def _call(self, run_id: str, method: str, *args, timeout: float = COMMAND_TIMEOUT_SECONDS):
        """Call a placed actor; (True, answer), or (False, None) when it is not there to ask
        (not placed, failed, gone) or did not answer in time."""
        run = self.get(run_id)
        if run is None or not self.is_placed(run_id):
            return False, None
        try:
            return True, ray.get(getattr(run.handle, method).remote(*args), timeout=timeout)
        except RayActorError:
            self._fail(run, lost_message(run.step))
        except GetTimeoutError:
            log.warning("run %s did not answer %s within %.0f s", run_id, method, timeout)
        return False, None

    def _send(self, run_id: str, method: str, wanted: str | None = None) -> None:
        """A command: to a placed actor at once; to one Ray has not placed yet, queued in Ray
        behind its constructor, and remembered for its state until it is placed."""
        run = self.get(run_id)
        if run is None or run.failed:
            return
        if self.is_placed(run_id):
            self._call(run_id, method)
            run.probed_at = 0.0  # its state changed: the next question asks it
            return
        if wanted is not None:
            run.wanted = wanted
        if (handle := self._handle(run, run_id)) is not None:
            getattr(handle, method).remote()

    # --- Workers ------------------------------------------------------------------------
    def state(self, run_id: str) -> str | None:
        run = self.get(run_id)
        if run is None:
            return None
        if run.failed:
            return T.FAILED
        if not self.is_placed(run_id):
            return T.FAILED if run.failed else run.wanted
        if time.monotonic() - run.probed_at > PROBE_FRESH_SECONDS:
            answered, probe = self._call(run_id, "probe", timeout=PROBE_TIMEOUT_SECONDS)
            if answered:
                run.state, run.busy, run.step = probe
                run.probed_at = time.monotonic()
        return T.FAILED if run.failed else run.state

    def busy(self, run_id: str) -> bool:
        run = self.get(run_id)
        if run is None or run.failed:
            return False
        if not run.placed:
            return run.wanted == T.RUNNING
        self.state(run_id)
        return run.busy and not run.failed

    def begin(self, run_id: str) -> None:
        self._send(run_id, "begin", T.RUNNING)

    def pause(self, run_id: str) -> None:
        self._send(run_id, "pause", T.PAUSED)

    def stop(self, run_id: str) -> None:
        self._send(run_id, "stop", T.STOPPED)

    def reinitialise(self, run_id: str) -> None:
        self._send(run_id, "reinitialise", T.READY)

    def unsaved_epoch(self, run_id: str) -> bool:
        run = self.get(run_id)
        if run is None or run.failed or not run.placed:
            return False
        answered, unsaved = self._call(run_id, "unsaved_epoch", timeout=PROBE_TIMEOUT_SECONDS)
        return bool(answered and unsaved)

    def stored(self, run_id: str, owner: str,
               number: int) -> tuple[StoredRun, StateDict] | None:
        run = self.get(run_id)
        if run is None:
            return None
        if not run.failed:
            answered, found = self._call(run_id, "stored", owner, number)
            if answered or not run.failed:
                return found
        # Lost: its last stored epoch, now saying how it ended.
        earlier = self.store.stored_run(run_id, number)
        weights = self.store.stored_weights(run_id, number) if earlier else None
        if earlier is None or weights is None:
            return None
        return dataclasses.replace(earlier, state=T.FAILED, message=run.failed), weights

    def release(self, run_id: str) -> None:
        with self._lock:
            run = self._runs.pop(run_id, None)
        if run is None:
            return
        handle = run.handle
        if handle is None:
            try:
                handle = ray.get_actor(run_actor_name(run_id), namespace=NAMESPACE)
            except ValueError:
                return
        try:
            ray.kill(handle, no_restart=True)
        except Exception:  # already gone with its node
            pass

    # --- status -------------------------------------------------------------------------
    def stand_in_status(self, run_id: str) -> RunStatus | None:
        """The trainer's part of the status when the actor cannot say it: not placed yet
        (waiting for a worker) or failed with its node."""
        run = self.get(run_id)
        if run is None:
            return None
        if run.failed:
            return dataclasses.replace(run.placeholder, state=T.FAILED, message=run.failed,
                                       step=run.step, busy=False,
                                       epoch=run.step / max(1, run.placeholder.steps_per_epoch))
        waiting = run.wanted == T.RUNNING or run.steps_waiting
        return dataclasses.replace(
            run.placeholder, state=WAITING_FOR_WORKER if waiting else run.wanted,
            message=WAITING_FOR_WORKER if waiting else "", queued=waiting)


class RegistryActor:
    """The cluster's RunRegistry, its store and its datasets, as one actor."""

    def __init__(self, store_folder: str | None = None,
                 load_dataset: Callable[[str], Dataset] | None = None,
                 **registry_settings) -> None:
        """`store_folder`: the state folder ("" keeps stored runs in memory; None: the
        head node's $PLAYGROUND_STATE)."""
        store = (InMemoryStore() if store_folder == "" else
                 open_store(Path(store_folder) if store_folder else None))
        self.workers = ActorWorkers(store)
        registry_settings.setdefault("slots", UNLIMITED_SLOTS)
        self.registry = RunRegistry(self.workers, store, liveness=self._connected,
                                    **registry_settings)
        self._load_dataset = load_dataset or shared.dataset
        self._datasets: dict[str, list] = {}
        self._facts: dict[str, tuple] = {}
        self._loaded: dict[str, Dataset] = {}  # a few images of each, for dataset_info
        self._loading = threading.Lock()
        self._reports: dict[str, tuple[float, set[str] | None]] = {}
        self._reports_lock = threading.Lock()

    # --- datasets: loaded here once, read by every node from the object store ----------------
    def dataset(self, name: str) -> list:
        """[object reference] of the packed dataset (in a list, so Ray passes the reference)."""
        with self._loading:
            if name not in self._datasets:
                data = self._load_dataset(name)
                self._loaded[name] = _samples_only(data)
                self._facts[name] = (data.input_shape, list(data.classes), len(data.train_y),
                                     data.is_subset, data.source)
                self._datasets[name] = [ray.put(pack(data))]
            return self._datasets[name]

    def dataset_info(self, run_id: str) -> DatasetInfo | None:
        """The dataset of a run whose actor cannot say it yet (not placed)."""
        run = self.workers.get(run_id)
        if run is None:
            return None
        self.dataset(run.dataset_name)
        data = self._loaded[run.dataset_name]
        return DatasetInfo(
            name=run.dataset_name, classes=list(data.classes), input_shape=data.input_shape,
            train_size=len(data.train_y), test_size=len(data.test_y), mean=tuple(data.mean),
            std=tuple(data.std), source=data.source, note=run.placeholder.dataset_note,
            samples=data.train_x[:SAMPLE_IMAGES].clone())

    def dataset_facts(self, name: str) -> tuple:
        """(input shape, classes, training images, is a subset, source) of a dataset."""
        self.dataset(name)
        return self._facts[name]

    # --- liveness: every web replica reports its connected pages -----------------------------
    def report_connected(self, replica: str, connected: Collection[str] | None) -> None:
        with self._reports_lock:
            self._reports[replica] = (time.monotonic(), None if connected is None
                                      else set(connected))

    def _connected(self, run_ids: Collection[str]) -> set[str] | None:
        """Runs some replica's connected page shows; None when no replica can tell."""
        now = time.monotonic()
        with self._reports_lock:
            fresh = [shown for at, shown in self._reports.values()
                     if now - at < REPORT_FRESH_SECONDS and shown is not None]
        if not fresh:
            return None
        return set().union(*fresh) & set(run_ids)

    # --- runs ---------------------------------------------------------------------------
    def admit(self, run_id: str, owner: str, device_key: str, address: str | None,
              placeholder: RunStatus, dataset_name: str) -> int:
        self.workers.add(run_id, placeholder, dataset_name)
        try:
            return self.registry.admit(run_id, owner, device_key, address)
        except Exception:
            self.workers.release(run_id)
            raise

    def readmit(self, run_id: str, owner: str, number: int, device_key: str,
                stored_state: str, placeholder: RunStatus, dataset_name: str) -> None:
        self.workers.add(run_id, placeholder, dataset_name)
        self.registry.readmit(run_id, owner, number, device_key, stored_state)

    def view(self, run_id: str) -> tuple[RegistryView | None, bool, RunStatus | None]:
        """(the registry's part of the status, placed, the stand-in trainer part when the
        actor cannot answer): one call for a page's refresh."""
        view = self.registry.view(run_id)
        if view is None:
            return None, False, None
        placed = self.workers.is_placed(run_id)
        return view, placed, None if placed else self.workers.stand_in_status(run_id)

    def lost(self, run_id: str, step: int = 0) -> None:
        self.workers.lost(run_id, step)
        self.registry.wake()

    def check_owner(self, run_id: str, owner: str | None) -> None:
        self.registry.check_owner(run_id, owner)

    def steppable(self, run_id: str, owner: str | None) -> bool:
        """The caller owns the run and it has a place to train: the executor may send it
        steps (False when there is no such run)."""
        self.registry.check_owner(run_id, owner)
        self.registry.reclaim(run_id)
        if self.registry.entry(run_id) is None:
            return False
        if (run := self.workers.get(run_id)) is not None and not self.workers.is_placed(run_id):
            run.steps_waiting = True  # its steps wait for Ray to place it
        return True

    def touch(self, run_id: str) -> bool:
        return self.registry.touch(run_id)

    def run_ids(self) -> list[str]:
        return self.registry.run_ids()

    def owner_of(self, run_id: str) -> str | None:
        return self.registry.owner_of(run_id)

    def entry_exists(self, run_id: str) -> bool:
        return self.registry.entry(run_id) is not None

    def remove(self, run_id: str, owner: str | None) -> None:
        self.registry.remove(run_id, owner)

    def request_start(self, run_id: str, owner: str | None) -> None:
        self.registry.request_start(run_id, owner)

    def pause(self, run_id: str, owner: str | None) -> None:
        self.registry.pause(run_id, owner)

    def stop(self, run_id: str, owner: str | None) -> None:
        self.registry.stop(run_id, owner)

    def reset(self, run_id: str, owner: str | None) -> None:
        self.registry.reset(run_id, owner)

    def wake(self, run_id: str | None = None) -> None:
        """A run's trainer changed state or ended an epoch (`run_id`), or anything else
        the queue should be looked at again for."""
        if run_id is not None and (run := self.workers.get(run_id)) is not None:
            run.probed_at = 0.0
        self.registry.wake()

    def history(self, owner: str) -> list[RunSummary]:
        return self.registry.history(owner)

    def stored_run(self, owner: str, run_id: str, number: int | None):
        return self.registry.stored_run(owner, run_id, number)

    def stored_progress(self, run_id: str):
        """The newest stored copy of a run (any owner: reads are not owner-checked)."""
        run = self.registry.store.stored_run(run_id)
        return None if run is None else run.progress

    def evictions(self, owner: str) -> list[str]:
        return self.registry.evictions(owner)

    def max_active(self) -> int:
        return self.registry.max_active

    def close(self) -> None:
        self.registry.close()


def _samples_only(data: Dataset) -> Dataset:
    """The dataset's description with only its first few images (the arrays went to the
    object store; the registry keeps no copy)."""
    return dataclasses.replace(data, train_x=data.train_x[:SAMPLE_IMAGES].clone(),
                               test_x=data.test_x[:0].clone(),
                               train_y=data.train_y.clone(), test_y=data.test_y.clone())
