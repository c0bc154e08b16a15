"""The run registry's state, behind a small interface so that it can live elsewhere
(a database, a registry actor) while the registry's rules stay the same.

Entries and summaries are values: the registry replaces them, never changes them in place.
The registry serialises its calls (one lock), so a store need not lock for it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from playground.runs.executor import RunSummary


@dataclass(frozen=True)
class RunEntry:
    """What the registry knows of one active run."""

    run_id: str
    owner: str
    number: int          # the session's run counter, for labels
    device_key: str      # "cpu", "cuda" or "mps": whose training slots it takes
    last_seen: float     # the registry's clock when a page last showed it
    idle_note: str = ""  # why the registry paused it


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

    def summaries(self, owner: str) -> list[RunSummary]: ...
    def set_summaries(self, owner: str, summaries: list[RunSummary]) -> None: ...


class InMemoryStore:
    """The registry's state in this process's memory (gone when the server stops)."""

    def __init__(self) -> None:
        self._entries: dict[str, RunEntry] = {}
        self._owners: dict[str, str] = {}
        self._counters: dict[str, int] = {}
        self._queue: list[str] = []
        self._summaries: dict[str, list[RunSummary]] = {}

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
        self._entries[run_id] = replace(entry, last_seen=now)
        return True

    def set_owner(self, run_id: str, owner: str) -> None:
        self._owners[run_id] = owner

    def owner_of(self, run_id: str) -> str | None:
        return self._owners.get(run_id)

    def next_number(self, owner: str) -> int:
        self._counters[owner] = self._counters.get(owner, 0) + 1
        return self._counters[owner]

    def queue(self) -> list[str]:
        return list(self._queue)

    def enqueue(self, run_id: str) -> None:
        if run_id not in self._queue:
            self._queue.append(run_id)

    def dequeue(self, run_id: str) -> None:
        if run_id in self._queue:
            self._queue.remove(run_id)

    def summaries(self, owner: str) -> list[RunSummary]:
        return list(self._summaries.get(owner, []))

    def set_summaries(self, owner: str, summaries: list[RunSummary]) -> None:
        self._summaries[owner] = list(summaries)
