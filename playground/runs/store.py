"""The run registry's state, behind a small interface so that it can live elsewhere
(a database, a registry actor) while the registry's rules stay the same.

Two kinds of state: the active runs of this process (entries, queue, owners, counters),
which mean nothing once the process is gone, and the stored runs (settings, curves and
weights of each run, written at every epoch end and when it ends), which a persistent store
keeps across restarts (`playground.runs.sqlite_store`). Stored runs are bounded: at most
`runs_per_owner` per owner and `max_bytes` in all, the oldest evicted first.

Entries and summaries are values: the registry replaces them, never changes them in place.
The registry serialises its calls (one lock), except those on stored runs, which a store
locks itself: writing weights takes time that no page should wait for.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Protocol

from playground import spec as S
from playground.runs.executor import RunSummary, StateDict, run_label
from playground.runs.settings import env_int
from playground.train.records import RunProgress


EVICTION_NOTES_KEPT = 5  # per owner, until the page asks for them


@dataclass(frozen=True)
class StoreBounds:
    """How much a store keeps of finished runs, whoever made them."""

    runs_per_owner: int = 10
    max_bytes: int = 2048 * 2**20

    @classmethod
    def from_env(cls) -> StoreBounds:
        return cls(env_int("PLAYGROUND_STORED_RUNS_PER_OWNER", cls.runs_per_owner),
                   env_int("PLAYGROUND_STORE_MAX_MB", cls.max_bytes // 2**20) * 2**20)


@dataclass(frozen=True)
class RunEntry:
    """What the registry knows of one active run."""

    run_id: str
    owner: str
    number: int          # the session's run counter, for labels
    device_key: str      # "cpu", "cuda" or "mps": whose training slots it takes
    last_seen: float     # the registry's clock when a page last showed it
    idle_note: str = ""  # why the registry paused it
    saved_state: str = ""  # the state it was last stored in ("" before its first store)


@dataclass(frozen=True)
class StoredRun:
    """One run as a store keeps it, its weights apart: enough to compare it, open it again
    and train on from it after the server restarted."""

    run_id: str
    number: int
    owner: str
    spec: S.ModelSpec
    config: S.TrainingConfig
    dataset_name: str        # what its dataset is loaded by
    device: str
    state: str               # as stored; "interrupted" once the process that trained it is gone
    message: str
    steps_per_epoch: int
    progress: RunProgress
    created_at: float = 0.0  # wall clock of its first store: the oldest goes first
    nbytes: int = 0          # what it takes in the store (weights and records)

    @property
    def key(self) -> tuple[str, int]:
        """A reset run keeps its id and takes a new number: both name one stored run."""
        return self.run_id, self.number

    @property
    def label(self) -> str:
        return run_label(self.number, self.spec, self.config)

    @property
    def place(self) -> StoredPlace:
        return StoredPlace(self.run_id, self.number, self.owner, self.created_at, self.nbytes)

    def summary(self) -> RunSummary:
        return RunSummary(self.run_id, self.number, self.spec, self.config, self.device,
                          self.progress.steps, self.progress.evals, self.progress.epochs,
                          self.state, list(self.progress.lr_changes))


@dataclass(frozen=True)
class StoredPlace:
    """What eviction looks at of a stored run."""

    run_id: str
    number: int
    owner: str
    created_at: float
    nbytes: int

    @property
    def key(self) -> tuple[str, int]:
        return self.run_id, self.number


@dataclass(frozen=True)
class Eviction:
    place: StoredPlace
    reason: str   # which bound, for the owner's page to say


def runs_to_evict(stored: list[StoredPlace], saved: StoredPlace,
                  bounds: StoreBounds) -> list[Eviction]:
    """The runs to drop after `saved` was stored, oldest first: the owner's beyond
    runs_per_owner, then anyone's beyond max_bytes in all. Never `saved` itself, so one run
    larger than max_bytes is still kept (alone)."""
    others = sorted((run for run in stored if run.key != saved.key),
                    key=lambda run: run.created_at)
    mine = [run for run in others if run.owner == saved.owner]
    by_count = f"over the {bounds.runs_per_owner} saved runs kept per browser"
    evicted = [Eviction(run, by_count)
               for run in mine[:max(0, len(mine) + 1 - bounds.runs_per_owner)]]
    gone = {eviction.place.key for eviction in evicted}
    total = saved.nbytes + sum(run.nbytes for run in others if run.key not in gone)
    by_bytes = f"over the {bounds.max_bytes / 2**20:,.0f} MB of saved runs the server keeps"
    for run in others:
        if total <= bounds.max_bytes:
            break
        if run.key not in gone:
            evicted.append(Eviction(run, by_bytes))
            gone.add(run.key)
            total -= run.nbytes
    return evicted


def note_eviction(notes: dict[str, list[str]], run: StoredRun, reason: str) -> None:
    """Keep a line for the run's owner's page to say it is gone (the last few)."""
    kept = notes.setdefault(run.owner, [])
    kept.append(f"{run.label} ({reason})")
    del kept[:-EVICTION_NOTES_KEPT]


def state_dict_bytes(weights: StateDict) -> int:
    return sum(tensor.numel() * tensor.element_size() for tensor in weights.values())


class RunStore(Protocol):
    def put(self, entry: RunEntry) -> None: ...
    def get(self, run_id: str) -> RunEntry | None: ...
    def pop(self, run_id: str) -> RunEntry | None: ...
    def entries(self) -> list[RunEntry]: ...
    def touch(self, run_id: str, now: float) -> bool: ...

    def set_owner(self, run_id: str, owner: str) -> None: ...
    def owner_of(self, run_id: str) -> str | None:
        """Kept after the run is freed: a reload finds its session's history."""

    def next_number(self, owner: str) -> int: ...

    def queue(self) -> list[str]:
        """Run ids waiting for a training slot, in order."""

    def enqueue(self, run_id: str) -> None: ...
    def dequeue(self, run_id: str) -> None: ...

    # --- stored runs (locked by the store itself) ---------------------------------------
    def save_run(self, run: StoredRun, weights: StateDict) -> None:
        """Store the run (replacing its earlier store), then evict beyond the bounds."""

    def stored_runs(self, owner: str) -> list[StoredRun]:
        """The owner's stored runs, oldest first."""

    def stored_run(self, run_id: str, number: int | None = None) -> StoredRun | None:
        """One stored run; without a number, the newest stored under that id."""

    def stored_weights(self, run_id: str, number: int) -> StateDict | None: ...

    def take_evictions(self, owner: str) -> list[str]:
        """The owner's stored runs evicted since the last call: label and why."""


class InMemoryStore:
    """The registry's state in this process's memory (gone when the server stops)."""

    def __init__(self, bounds: StoreBounds | None = None) -> None:
        self.bounds = bounds or StoreBounds.from_env()
        self._entries: dict[str, RunEntry] = {}
        self._owners: dict[str, str] = {}
        self._counters: dict[str, int] = {}
        self._queue: list[str] = []
        self._stored: dict[tuple[str, int], tuple[StoredRun, StateDict]] = {}
        self._evictions: dict[str, list[str]] = {}
        self._stored_lock = threading.Lock()

    def put(self, entry: RunEntry) -> None:
        self._entries[entry.run_id] = entry

    def get(self, run_id: str) -> RunEntry | None:
        return self._entries.get(run_id)

    def pop(self, run_id: str) -> RunEntry | None:
        return self._entries.pop(run_id, None)

    def entries(self) -> list[RunEntry]:
        return list(self._entries.values())

    def touch(self, run_id: str, now: float) -> bool:
        entry = self._entries.get(run_id)
        if entry is None:
            return False
        # Never back: a sweep that read the clock before another's touch may come after it.
        self._entries[run_id] = replace(entry, last_seen=max(entry.last_seen, now))
        return True

    def set_owner(self, run_id: str, owner: str) -> None:
        self._owners[run_id] = owner

    def owner_of(self, run_id: str) -> str | None:
        owner = self._owners.get(run_id)
        if owner is None and (stored := self.stored_run(run_id)) is not None:
            owner = stored.owner
        return owner

    def next_number(self, owner: str) -> int:
        # Past the stored runs' numbers too: after a restart "#1" must not come twice.
        stored = max((run.number for run in self.stored_runs(owner)), default=0)
        self._counters[owner] = max(self._counters.get(owner, 0), stored) + 1
        return self._counters[owner]

    def queue(self) -> list[str]:
        return list(self._queue)

    def enqueue(self, run_id: str) -> None:
        if run_id not in self._queue:
            self._queue.append(run_id)

    def dequeue(self, run_id: str) -> None:
        if run_id in self._queue:
            self._queue.remove(run_id)

    # --- stored runs ------------------------------------------------------------------------
    def save_run(self, run: StoredRun, weights: StateDict) -> None:
        with self._stored_lock:
            earlier = self._stored.get(run.key)
            run = replace(run, created_at=earlier[0].created_at if earlier else time.time(),
                          nbytes=state_dict_bytes(weights))
            self._stored[run.key] = (run, weights)
            for eviction in runs_to_evict([kept.place for kept, _ in self._stored.values()],
                                          run.place, self.bounds):
                evicted, _ = self._stored.pop(eviction.place.key)
                note_eviction(self._evictions, evicted, eviction.reason)

    def stored_runs(self, owner: str) -> list[StoredRun]:
        with self._stored_lock:
            return sorted((run for run, _ in self._stored.values() if run.owner == owner),
                          key=lambda run: run.created_at)

    def stored_run(self, run_id: str, number: int | None = None) -> StoredRun | None:
        with self._stored_lock:
            found = [run for run, _ in self._stored.values() if run.run_id == run_id
                     and (number is None or run.number == number)]
        return max(found, key=lambda run: run.number, default=None)

    def stored_weights(self, run_id: str, number: int) -> StateDict | None:
        with self._stored_lock:
            kept = self._stored.get((run_id, number))
        return dict(kept[1]) if kept else None

    def take_evictions(self, owner: str) -> list[str]:
        with self._stored_lock:
            return self._evictions.pop(owner, [])
