"""The rules every run lives by, whatever trains it.

Streamlit gives no callback when a session ends, so a run is found again by the id kept
in the session (and the page URL, so a reload reattaches). The registry:
- caps the runs holding a model, for the whole server and per browser session;
- pauses a run whose page has not been seen for IDLE_PAUSE_SECONDS (a lecturer switching
  to slides loses nothing), and stops and frees one unseen for IDLE_STOP_SECONDS;
- lets at most `slots` runs train at once per device and queues the rest in order;
- keeps each session's last few runs (settings and curves, no weights) for comparison.
A reaper thread does the timed work; it exists only while the registry holds runs. All
its state is in a RunStore; the trainers are reached through `Workers`, by run id.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import replace
from typing import Callable, Protocol

from playground.runs.executor import RunLimitError, RunSummary
from playground.runs.store import InMemoryStore, RunEntry, RunStore
from playground.train.trainer import PAUSED, READY, RUNNING

log = logging.getLogger(__name__)


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


class Workers(Protocol):
    """The trainers as the registry drives them, by run id. An id without a trainer
    reads as state None, not busy, no summary; commands to it do nothing."""

    def state(self, run_id: str) -> str | None: ...
    def busy(self, run_id: str) -> bool:
        """Training now, so holding a slot (a stopping run has given its slot up)."""

    def begin(self, run_id: str) -> None:
        """Train now: start a ready run or resume a paused one."""

    def pause(self, run_id: str) -> None: ...
    def stop(self, run_id: str) -> None: ...
    def reinitialise(self, run_id: str) -> None:
        """Fresh weights from the seed, empty records (the run is stopped)."""

    def summary(self, run_id: str, number: int) -> RunSummary | None: ...
    def release(self, run_id: str) -> None:
        """Drop the trainer: its model and tensors are freed."""


class RunRegistry:
    def __init__(self, workers: Workers, store: RunStore | None = None,
                 slots: dict[str, int] | None = None,
                 idle_pause: float = IDLE_PAUSE_SECONDS, idle_stop: float = IDLE_STOP_SECONDS,
                 sweep_seconds: float = SWEEP_SECONDS, max_active: int = MAX_ACTIVE_RUNS,
                 max_per_session: int = MAX_RUNS_PER_SESSION,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.workers = workers
        self.store = store if store is not None else InMemoryStore()
        self.slots = dict(TRAINING_SLOTS if slots is None else slots)
        self.idle_pause, self.idle_stop = idle_pause, idle_stop
        self.sweep_seconds, self.max_active, self.clock = sweep_seconds, max_active, clock
        self.max_per_session = max_per_session
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._reaper: threading.Thread | None = None
        self._closed = False

    # --- runs -------------------------------------------------------------------------
    def admit(self, run_id: str, owner: str, device_key: str) -> int:
        """Take a new run in (its trainer already made); returns its number in the
        session. RunLimitError when the server or the session is at its cap."""
        with self._lock:
            number = self.store.next_number(owner)
            holding = [e for e in self.store.entries() if self._holds(e.run_id)]
            if len(holding) >= self.max_active:
                raise RunLimitError(f"the server already has {len(holding)} active training "
                                    f"runs (limit {self.max_active}); stop one or try later")
            mine = [e for e in holding if e.owner == owner]
            if len(mine) >= self.max_per_session:
                raise RunLimitError(f"this session already has {len(mine)} active training "
                                    f"run(s) (limit {self.max_per_session} per session, "
                                    "perhaps in another tab); stop it first")
            self.store.put(RunEntry(run_id, owner, number, device_key, self.clock()))
            self.store.set_owner(run_id, owner)
            self._ensure_reaper()
            return number

    def _holds(self, run_id: str) -> bool:
        """Holding a place under the caps: queued, training or paused mid-way."""
        return self.is_queued(run_id) or self.workers.state(run_id) in (RUNNING, PAUSED)

    def entry(self, run_id: str | None) -> RunEntry | None:
        with self._lock:
            return self.store.get(run_id) if run_id else None

    def touch(self, run_id: str | None) -> bool:
        """A page shows the run: its idle clock starts again. False if there is no such run."""
        with self._lock:
            return bool(run_id) and self.store.touch(run_id, self.clock())

    def run_ids(self) -> list[str]:
        with self._lock:
            return [e.run_id for e in self.store.entries()]

    def owner_of(self, run_id: str | None) -> str | None:
        """The session that made `run_id`, even after the run itself was freed."""
        with self._lock:
            return self.store.owner_of(run_id) if run_id else None

    def remove(self, run_id: str) -> None:
        """Stop the run, keep its summary for comparison, free its model and tensors."""
        with self._lock:
            entry = self.store.pop(run_id)
            if entry is None:
                return
            self.store.dequeue(run_id)
        self.workers.stop(run_id)
        self._archive(entry)
        self.workers.release(run_id)
        self._wake.set()

    # --- history ------------------------------------------------------------------------
    def _archive(self, entry: RunEntry) -> None:
        """Keep the run's settings and curves (not its weights) in its session's history."""
        summary = self.workers.summary(entry.run_id, entry.number)
        if summary is None or not summary.steps:
            return
        with self._lock:
            kept = [s for s in self.store.summaries(entry.owner)
                    if (s.run_id, s.number) != (entry.run_id, entry.number)]
            self.store.set_summaries(entry.owner, (kept + [summary])[-KEEP_RUNS_PER_SESSION:])

    def history(self, owner: str) -> list[RunSummary]:
        with self._lock:
            return self.store.summaries(owner)

    # --- commands ----------------------------------------------------------------------
    def request_start(self, run_id: str) -> None:
        """Train (or resume) now if the device has a free slot, else join its queue."""
        with self._lock:
            entry = self.store.get(run_id)
            if (entry is None or self.workers.state(run_id) not in (READY, PAUSED)
                    or self.is_queued(run_id)):
                return
            self.store.put(replace(entry, idle_note=""))
            self.store.enqueue(run_id)
            self._schedule()

    def _take_off_queue(self, run_id: str) -> RunEntry | None:
        """The run's entry, no longer waiting for a slot (None if there is no such run)."""
        with self._lock:
            entry = self.store.get(run_id)
            if entry is not None:
                self.store.dequeue(run_id)
            return entry

    def pause(self, run_id: str) -> None:
        if self._take_off_queue(run_id) is not None:
            self.workers.pause(run_id)

    def stop(self, run_id: str) -> None:
        if self._take_off_queue(run_id) is None:
            return
        self.workers.stop(run_id)
        self._wake.set()

    def reset(self, run_id: str) -> None:
        """Keep the run's curves for comparison, then re-initialise it from its seed."""
        entry = self._take_off_queue(run_id)
        if entry is None:
            return
        self.workers.stop(run_id)
        self._archive(entry)
        self.workers.reinitialise(run_id)
        with self._lock:
            current = self.store.get(run_id)
            if current is not None:
                number = self.store.next_number(current.owner)
                self.store.put(replace(current, number=number, idle_note=""))
        self._wake.set()

    def wake(self) -> None:
        """A trainer changed state: look at the queue now rather than at the next sweep.
        Only signals, so it may be called from any thread holding any lock."""
        self._wake.set()

    def is_queued(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self.store.queue()

    def queue_position(self, run_id: str) -> tuple[int, int] | None:
        """(1-based place, queue length) among runs waiting for the same device."""
        with self._lock:
            entry = self.store.get(run_id)
            if entry is None or not self.is_queued(run_id):
                return None
            same = [i for i in self.store.queue()
                    if (other := self.store.get(i)) and other.device_key == entry.device_key]
            return same.index(run_id) + 1, len(same)

    def training_count(self, device_key: str) -> int:
        with self._lock:
            return sum(1 for e in self.store.entries()
                       if e.device_key == device_key and self.workers.busy(e.run_id))

    # --- the timed work -----------------------------------------------------------------
    def sweep(self) -> None:
        """Pause or free unseen runs, then start queued runs where a slot is free."""
        now = self.clock()
        to_free = []
        with self._lock:
            for entry in self.store.entries():
                unseen = now - entry.last_seen
                if unseen >= self.idle_stop:
                    to_free.append(entry.run_id)
                elif unseen >= self.idle_pause and (self.workers.busy(entry.run_id)
                                                    or self.is_queued(entry.run_id)):
                    self.store.dequeue(entry.run_id)
                    self.workers.pause(entry.run_id)
                    self.store.put(replace(
                        entry, idle_note=f"Paused because this page was not seen for "
                                         f"{unseen / 60:.0f} min or more. Press Resume to "
                                         "go on."))
            self._schedule()
        for run_id in to_free:
            self.remove(run_id)

    def _schedule(self) -> None:
        with self._lock:
            for run_id in self.store.queue():
                entry = self.store.get(run_id)
                if entry is None or self.workers.state(run_id) not in (READY, PAUSED):
                    self.store.dequeue(run_id)
                    continue
                if self.training_count(entry.device_key) < self.slots.get(entry.device_key, 1):
                    self.store.dequeue(run_id)
                    self.workers.begin(run_id)

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
                log.exception("run registry sweep failed")
            with self._lock:
                if not self.store.entries():
                    self._reaper = None
                    return

    def close(self) -> None:
        """Stop every run and the reaper (tests, server shutdown)."""
        self._closed = True
        for run_id in self.run_ids():
            self.remove(run_id)
        self._wake.set()
        reaper = self._reaper
        if reaper is not None:
            reaper.join(5)
