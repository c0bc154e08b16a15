"""Runs live in a process-wide registry, not in one browser session.

Streamlit gives no callback when a session ends, so a run is found again by the id kept
in the session (and the page URL, so a reload reattaches). The registry also:
- pauses a run whose page has not been seen for IDLE_PAUSE_SECONDS (a lecturer switching
  to slides loses nothing), and stops and frees one unseen for IDLE_STOP_SECONDS;
- lets at most `slots` runs train at once per device and queues the rest in order;
- keeps each session's last few runs (settings and curves, no weights) for comparison.
A reaper thread does the timed work; it exists only while the registry holds runs.
Datasets are loaded once per process and shared read-only by every session.
"""
from __future__ import annotations

import dataclasses
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import streamlit as st

from playground.data import datasets as D
from playground import spec as S
from playground.train import trainer as T
from playground.train.threads import BACKGROUND_NICE


def _env_slots(name: str, default: int) -> int:
    """A positive integer from the environment; a bad value keeps the default (the server
    must start whatever an administrator typed)."""
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


# Runs holding a model, whole server (a classroom shares one machine); queued ones count.
MAX_ACTIVE_RUNS = _env_slots("PLAYGROUND_MAX_RUNS", 8)
MAX_RUNS_PER_SESSION = 1     # active runs per browser session (its tabs share one owner)
IDLE_PAUSE_SECONDS = 120.0   # unseen this long: pause
IDLE_STOP_SECONDS = 30 * 60.0  # unseen this long: stop and free the memory
SWEEP_SECONDS = 1.0          # how often the reaper looks
KEEP_RUNS_PER_SESSION = 5    # finished runs kept for "compare runs"
# Runs allowed to train at the same time, per device type. One CPU run already uses every
# core; a GPU has room for a few small networks.
TRAINING_SLOTS = {"cpu": _env_slots("PLAYGROUND_RUNS_PER_CPU", 1),
                  "cuda": _env_slots("PLAYGROUND_RUNS_PER_GPU", 2),
                  "mps": 1}


class RunLimitError(RuntimeError):
    pass


@dataclass
class RunSummary:
    """What "compare runs" keeps of a finished run: settings and curves, no weights."""

    run_id: str
    number: int
    spec: S.ModelSpec
    config: S.TrainingConfig
    device: str
    steps: list
    evals: list
    epochs: list
    state: str

    @property
    def label(self) -> str:
        return run_label(self.number, self.spec, self.config)

    @property
    def test_acc(self) -> float | None:
        return self.evals[-1].test_acc if self.evals else None


@dataclass
class Run:
    run_id: str
    trainer: T.Trainer
    owner: str = ""               # the browser session that made it
    number: int = 1               # the session's run counter, for labels
    dataset_note: str = ""
    last_seen: float = field(default_factory=time.monotonic)
    queued: bool = False
    idle_note: str = ""           # why the registry paused it, for the page to say

    @property
    def device_key(self) -> str:
        return self.trainer.device.type

    def summary(self) -> RunSummary:
        steps, evals, epochs = self.trainer.history()
        return RunSummary(self.run_id, self.number, self.trainer.spec,
                          dataclasses.replace(self.trainer.config), str(self.trainer.device),
                          steps, evals, epochs, self.trainer.state)


def run_label(number: int, model_spec: S.ModelSpec, config: S.TrainingConfig) -> str:
    return (f"#{number} {model_spec.name}: {config.optimizer} lr {config.lr:g}, "
            f"batch {config.batch_size}{', augment' if config.augment else ''}")


class RunRegistry:
    def __init__(self, slots: dict[str, int] | None = None,
                 idle_pause: float = IDLE_PAUSE_SECONDS, idle_stop: float = IDLE_STOP_SECONDS,
                 sweep_seconds: float = SWEEP_SECONDS, max_active: int = MAX_ACTIVE_RUNS,
                 max_per_session: int = MAX_RUNS_PER_SESSION,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.slots = dict(TRAINING_SLOTS if slots is None else slots)
        self.idle_pause, self.idle_stop = idle_pause, idle_stop
        self.sweep_seconds, self.max_active, self.clock = sweep_seconds, max_active, clock
        self.max_per_session = max_per_session
        self._runs: dict[str, Run] = {}
        self._queue: list[str] = []                 # run ids waiting for a slot, in order
        self._history: dict[str, list[RunSummary]] = {}
        self._owners: dict[str, str] = {}           # run id -> owner, also after freeing
        self._counters: dict[str, int] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._reaper: threading.Thread | None = None
        self._closed = False

    # --- runs -------------------------------------------------------------------------
    def trainer_options(self, **options) -> T.TrainerOptions:
        """Options for a trainer this registry will hold (its state changes wake the queue)."""
        options.setdefault("thread_nice", BACKGROUND_NICE)
        return T.TrainerOptions(on_state_change=lambda state: self._wake.set(), **options)

    def next_number(self, owner: str) -> int:
        with self._lock:
            self._counters[owner] = self._counters.get(owner, 0) + 1
            return self._counters[owner]

    def add(self, run: Run) -> None:
        with self._lock:
            holding = [r for r in self._runs.values()
                       if r.queued or r.trainer.state in (T.RUNNING, T.PAUSED)]
            if len(holding) >= self.max_active:
                raise RunLimitError(f"the server already has {len(holding)} active training "
                                    f"runs (limit {self.max_active}); stop one or try later")
            mine = [r for r in holding if r.owner == run.owner]
            if len(mine) >= self.max_per_session:
                raise RunLimitError(f"this session already has {len(mine)} active training "
                                    f"run(s) (limit {self.max_per_session} per session, "
                                    "perhaps in another tab); stop it first")
            run.last_seen = self.clock()
            self._runs[run.run_id] = run
            self._owners[run.run_id] = run.owner
            self._ensure_reaper()

    def get(self, run_id: str | None, touch: bool = True) -> Run | None:
        with self._lock:
            run = self._runs.get(run_id) if run_id else None
        if run is not None and touch:
            run.last_seen = self.clock()
        return run

    def owner_of(self, run_id: str | None) -> str | None:
        """The session that made `run_id`, even after the run itself was freed."""
        with self._lock:
            return self._owners.get(run_id) if run_id else None

    def runs(self) -> list[Run]:
        with self._lock:
            return list(self._runs.values())

    def remove(self, run_id: str, note: str = "") -> None:
        """Stop the run, keep its summary for comparison, free its model and tensors."""
        with self._lock:
            run = self._runs.pop(run_id, None)
            if run is None:
                return
            self._dequeue(run)
        run.trainer.stop()
        self.archive(run)
        self._wake.set()

    # --- history ------------------------------------------------------------------------
    def archive(self, run: Run) -> None:
        """Keep the run's settings and curves (not its weights) in its session's history."""
        summary = run.summary()
        if not summary.steps:
            return
        with self._lock:
            kept = [s for s in self._history.get(run.owner, [])
                    if (s.run_id, s.number) != (run.run_id, run.number)]
            self._history[run.owner] = (kept + [summary])[-KEEP_RUNS_PER_SESSION:]

    def history(self, owner: str) -> list[RunSummary]:
        with self._lock:
            return list(self._history.get(owner, []))

    # --- commands ----------------------------------------------------------------------
    def request_start(self, run_id: str) -> None:
        """Train (or resume) now if the device has a free slot, else join its queue."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.trainer.state not in (T.READY, T.PAUSED) or run.queued:
                return
            run.idle_note = ""
            run.queued = True
            self._queue.append(run_id)
            self._schedule()

    def _take_off_queue(self, run_id: str) -> Run | None:
        """The run, no longer waiting for a slot (None if the registry has no such run)."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                self._dequeue(run)
            return run

    def pause(self, run_id: str) -> None:
        run = self._take_off_queue(run_id)
        if run is not None:
            run.trainer.pause()

    def stop(self, run_id: str) -> None:
        run = self._take_off_queue(run_id)
        if run is None:
            return
        run.trainer.stop()
        self._wake.set()

    def reset(self, run_id: str) -> None:
        """Keep the run's curves for comparison, then re-initialise it from its seed."""
        run = self._take_off_queue(run_id)
        if run is None:
            return
        run.trainer.stop()
        self.archive(run)
        run.trainer.reset()
        run.number = self.next_number(run.owner)
        run.idle_note = ""
        self._wake.set()

    def queue_position(self, run_id: str) -> tuple[int, int] | None:
        """(1-based place, queue length) among runs waiting for the same device."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or not run.queued:
                return None
            same = [i for i in self._queue if self._runs[i].device_key == run.device_key]
            return same.index(run_id) + 1, len(same)

    def training_count(self, device_key: str) -> int:
        with self._lock:
            return sum(1 for r in self._runs.values()
                       if r.device_key == device_key and r.trainer.busy)

    # --- the timed work -----------------------------------------------------------------
    def sweep(self) -> None:
        """Pause or free unseen runs, then start queued runs where a slot is free."""
        now = self.clock()
        to_free = []
        with self._lock:
            for run in list(self._runs.values()):
                unseen = now - run.last_seen
                if unseen >= self.idle_stop:
                    to_free.append(run.run_id)
                elif unseen >= self.idle_pause and (run.trainer.busy or run.queued):
                    self._dequeue(run)
                    run.trainer.pause()
                    run.idle_note = (f"Paused because this page was not seen for "
                                     f"{unseen / 60:.0f} min or more. Press Resume to go on.")
            self._schedule()
        for run_id in to_free:
            self.remove(run_id)

    def _schedule(self) -> None:
        with self._lock:
            for run_id in list(self._queue):
                run = self._runs.get(run_id)
                if run is None or run.trainer.state not in (T.READY, T.PAUSED):
                    if run is not None:
                        self._dequeue(run)
                    else:
                        self._queue.remove(run_id)
                    continue
                if self.training_count(run.device_key) < self.slots.get(run.device_key, 1):
                    self._dequeue(run)
                    run.trainer.start()

    def _dequeue(self, run: Run) -> None:
        run.queued = False
        if run.run_id in self._queue:
            self._queue.remove(run.run_id)

    def _ensure_reaper(self) -> None:
        if self._closed or (self._reaper is not None and self._reaper.is_alive()):
            return
        self._reaper = threading.Thread(target=self._reap, name="run-reaper", daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        """Sweep every sweep_seconds (sooner when a trainer changes state); end when empty."""
        while not self._closed:
            self._wake.wait(self.sweep_seconds)
            self._wake.clear()
            try:
                self.sweep()
            except Exception:  # a sweep must never kill the reaper
                pass
            with self._lock:
                if not self._runs:
                    self._reaper = None
                    return

    def close(self) -> None:
        """Stop every run and the reaper (tests, server shutdown)."""
        self._closed = True
        for run in self.runs():
            self.remove(run.run_id)
        self._wake.set()
        reaper = self._reaper
        if reaper is not None:
            reaper.join(5)


@st.cache_resource
def registry() -> RunRegistry:
    return RunRegistry()


def dataset(name: str) -> D.Dataset:
    """Loaded once per server process; every session shares the tensors read-only."""
    return _cached_dataset(name, str(D.default_data_dir()))


@st.cache_resource(show_spinner=False, max_entries=4)
def _cached_dataset(name: str, data_dir: str) -> D.Dataset:
    return D.load_dataset(name, data_dir)


def session_owner() -> str:
    """This browser session's token; a reload takes it back from the run in the URL."""
    owner = st.session_state.get("run_owner")
    if owner is None:
        owner = registry().owner_of(st.query_params.get("run")) or secrets.token_urlsafe(8)
        st.session_state["run_owner"] = owner
    return owner


def current_run() -> Run | None:
    run_id = st.session_state.get("run_id") or st.query_params.get("run")
    run = registry().get(run_id)
    if run is not None:
        st.session_state["run_id"] = run.run_id
    return run


def start_run(model_spec: S.ModelSpec, data: D.Dataset, config: S.TrainingConfig,
              device: str = "auto", start: bool = True) -> Run:
    """Replace this session's run with a new one and start it (or queue it)."""
    owner = session_owner()
    old = current_run()
    if old is not None:
        registry().remove(old.run_id)
    options = registry().trainer_options(device=device, evals_per_epoch=4, record_norms=True,
                                         keep_predictions=True)
    trainer = T.Trainer(model_spec, data, config, options)
    note = f"Training on {data.source}." if data.is_subset else ""
    run = Run(run_id=secrets.token_urlsafe(8), trainer=trainer, owner=owner,
              number=registry().next_number(owner), dataset_note=note)
    registry().add(run)
    st.session_state["run_id"] = run.run_id
    st.query_params["run"] = run.run_id
    if start:
        registry().request_start(run.run_id)
    return run
