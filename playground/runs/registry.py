"""The rules every run lives by, whatever trains it.

A run is found again by the id kept in the session (and the page URL, so a reload
reattaches). Its owner (the browser that started it) is the only caller whose commands it
takes. The registry:
- caps the runs holding a model, for the whole server, per owner and (when set) per client
  address;
- follows the pages' connections when it is told them (`liveness`): a run that no
  connected page of its owner shows for DISCONNECTED_RELEASE_SECONDS is paused and stops
  counting against any cap (a closed tab must not lock the class out), and a connected
  one counts as seen however throttled its page's timers are;
- pauses a run whose page has not been seen for IDLE_PAUSE_SECONDS (a lecturer switching
  to slides loses nothing), and stops and frees one unseen for IDLE_STOP_SECONDS;
- lets at most `slots` runs train at once per device and queues the rest in order;
- stores each run (settings, curves, weights) at every epoch end and when it ends, so a
  session's last few runs can be compared and opened again, after a restart too.
A reaper thread does the timed work; it exists only while the registry holds runs. Its
state is in a RunStore, except what belongs to this process's connections (client
addresses, since when a run's pages are gone, which runs were released): that dies with
them. The trainers are reached through `Workers`, by run id.
"""
from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Callable, Protocol

from playground.runs.executor import NotOwnerError, RunLimitError, RunSummary, StateDict
from playground.runs.settings import env_int
from playground.runs.store import InMemoryStore, RunEntry, RunStore, StoredRun, StoreBounds
from playground.train.trainer import ENDED, PAUSED, READY, RUNNING

log = logging.getLogger(__name__)


# Runs holding a model, whole server (a classroom shares one machine); queued ones count.
MAX_ACTIVE_RUNS = env_int("PLAYGROUND_MAX_RUNS", 8)
MAX_RUNS_PER_SESSION = 1     # active runs per browser (its tabs share one owner)
# Active runs per client address; 0 (the default) is no cap, since a class behind one NAT
# reaches the server from one address.
MAX_RUNS_PER_ADDRESS = env_int("PLAYGROUND_RUNS_PER_ADDRESS", 0, minimum=0)
# No connected page of its owner shows the run this long: paused, and no longer counted
# against the caps. Long enough for a reload (a new session reattaches it in seconds).
DISCONNECTED_RELEASE_SECONDS = 30.0
IDLE_PAUSE_SECONDS = 120.0   # unseen this long: pause
IDLE_STOP_SECONDS = 30 * 60.0  # unseen this long: stop and free the memory
SWEEP_SECONDS = 1.0          # how often the reaper looks
# Runs kept per session (owner) for "compare runs" and to open again: the store's bound.
KEEP_RUNS_PER_SESSION = StoreBounds.from_env().runs_per_owner
# Runs allowed to train at the same time, per device type. One CPU run already uses every
# core; a GPU has room for a few small networks.
TRAINING_SLOTS = {"cpu": env_int("PLAYGROUND_RUNS_PER_CPU", 1),
                  "cuda": env_int("PLAYGROUND_RUNS_PER_GPU", 2),
                  "mps": 1}


# Which of these runs a connected page of its owner shows now; None when the caller cannot
# tell (no web server in this process), and then only the idle timers apply.
Liveness = Callable[[Collection[str]], Collection[str] | None]


@dataclass
class RunClient:
    """What this process knows of a run's browser: where it connects from, and since when
    no page of it is connected."""

    address: str | None
    made_at: float                          # the registry's clock
    disconnected_since: float | None = None
    released: bool = False                  # paused for it and off the caps


@dataclass(frozen=True)
class RegistryView:
    """What the registry adds to a run's status: whose it is and where it stands."""

    owner: str
    number: int
    queued: bool
    queue_position: tuple[int, int] | None
    idle_note: str
    age_seconds: float
    connected: bool | None
    holds_place: bool


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

    def unsaved_epoch(self, run_id: str) -> bool:
        """An epoch ended since the run was last stored."""

    def stored(self, run_id: str, owner: str,
               number: int) -> tuple[StoredRun, StateDict] | None:
        """The run as the store keeps it, with a copy of its weights: as at its last epoch
        end while it trains, as it is now once it has ended; None if there is nothing."""

    def release(self, run_id: str) -> None:
        """Drop the trainer: its model and tensors are freed."""


class RunRegistry:
    def __init__(self, workers: Workers, store: RunStore | None = None,
                 slots: dict[str, int] | None = None,
                 idle_pause: float = IDLE_PAUSE_SECONDS, idle_stop: float = IDLE_STOP_SECONDS,
                 sweep_seconds: float = SWEEP_SECONDS, max_active: int = MAX_ACTIVE_RUNS,
                 max_per_session: int = MAX_RUNS_PER_SESSION,
                 max_per_address: int = MAX_RUNS_PER_ADDRESS,
                 disconnected_release: float = DISCONNECTED_RELEASE_SECONDS,
                 liveness: Liveness | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.workers = workers
        self.store = store if store is not None else InMemoryStore()
        self.slots = dict(TRAINING_SLOTS if slots is None else slots)
        self.idle_pause, self.idle_stop = idle_pause, idle_stop
        self.sweep_seconds, self.max_active, self.clock = sweep_seconds, max_active, clock
        self.max_per_session, self.max_per_address = max_per_session, max_per_address
        self.disconnected_release = disconnected_release
        self.liveness = liveness
        self._clients: dict[str, RunClient] = {}
        self._lock = threading.RLock()
        self._saving = threading.Lock()  # one store write at a time, in the order taken
        self._wake = threading.Event()
        self._reaper: threading.Thread | None = None
        self._closed = False

    # --- runs -------------------------------------------------------------------------
    def admit(self, run_id: str, owner: str, device_key: str,
              address: str | None = None) -> int:
        """Take a new run in (its trainer already made); returns its number in the
        session. RunLimitError when the server, the owner or the address is at its cap."""
        with self._lock:
            self._check_caps(owner, address)
            number = self.store.next_number(owner)
            self.store.put(RunEntry(run_id, owner, number, device_key, self.clock()))
            self.store.set_owner(run_id, owner)
            self._clients[run_id] = RunClient(address, self.clock())
            self._ensure_reaper()
            return number

    def _check_caps(self, owner: str, address: str | None) -> None:
        """RunLimitError when one more active run of this owner and address is too many."""
        holding = [e for e in self.store.entries() if self._holds(e.run_id)]
        if len(holding) >= self.max_active:
            raise RunLimitError(f"the server already has {len(holding)} active training "
                                f"runs (limit {self.max_active}); stop one or try later")
        mine = [e for e in holding if e.owner == owner]
        if len(mine) >= self.max_per_session:
            raise RunLimitError(f"this session already has {len(mine)} active training "
                                f"run(s) (limit {self.max_per_session} per session, "
                                "perhaps in another tab); stop it first")
        if self.max_per_address and address is not None:
            same = [e for e in holding if self.client(e.run_id).address == address]
            if len(same) >= self.max_per_address:
                raise RunLimitError(
                    f"address {address} already has {len(same)} active training run(s) "
                    f"(limit {self.max_per_address} per address); stop one first")

    def _holds(self, run_id: str) -> bool:
        """Holding a place under the caps: queued, training or paused mid-way, and not
        released because its pages were closed."""
        if self.client(run_id).released:
            return False
        return self.is_queued(run_id) or self.workers.state(run_id) in (RUNNING, PAUSED)

    def holds_place(self, run_id: str) -> bool:
        """Whether the run counts against the caps on active runs now."""
        with self._lock:
            return self.store.get(run_id) is not None and self._holds(run_id)

    def client(self, run_id: str) -> RunClient:
        """Its browser's address and connection (a run made elsewhere, e.g. found again in
        a store after a restart, has an unknown address and was made now)."""
        with self._lock:
            return self._clients.setdefault(run_id, RunClient(None, self.clock()))

    # --- ownership -----------------------------------------------------------------------
    def check_owner(self, run_id: str | None, owner: str | None) -> None:
        """NotOwnerError unless `owner` made the run (None: the server itself, allowed).
        An unknown run passes: commands to it do nothing."""
        if owner is None or not run_id:
            return
        with self._lock:
            actual = self.store.owner_of(run_id)
        if actual is not None and not hmac.compare_digest(actual.encode(), owner.encode()):
            raise NotOwnerError(run_id)

    def reclaim(self, run_id: str) -> None:
        """A run released while its pages were closed is about to train again: it takes a
        place under the caps back, or RunLimitError leaves it paused and released."""
        with self._lock:
            entry = self.store.get(run_id)
            if entry is None or not (client := self.client(run_id)).released:
                return
            self._check_caps(entry.owner, client.address)
            client.released = False
            self.store.put(replace(entry, idle_note=""))

    def entry(self, run_id: str | None) -> RunEntry | None:
        with self._lock:
            return self.store.get(run_id) if run_id else None

    def view(self, run_id: str | None) -> RegistryView | None:
        """The registry's part of the run's status (None if there is no such run)."""
        with self._lock:
            entry = self.entry(run_id)
            if entry is None:
                return None
            return RegistryView(
                owner=entry.owner, number=entry.number, queued=self.is_queued(run_id),
                queue_position=self.queue_position(run_id), idle_note=entry.idle_note,
                age_seconds=self.clock() - self.client(run_id).made_at,
                connected=self.is_connected(run_id), holds_place=self.holds_place(run_id))

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

    def remove(self, run_id: str, owner: str | None = None) -> None:
        """Stop the run, store it (for comparison and to open again), free its model and
        tensors."""
        self.check_owner(run_id, owner)
        with self._lock:
            if self.store.get(run_id) is None:
                return
            self.store.dequeue(run_id)
            self._clients.pop(run_id, None)
        self.workers.stop(run_id)
        self._save(run_id)  # while its entry still says what was stored already
        with self._lock:
            if self.store.pop(run_id) is None:
                return  # another thread freed it meanwhile
        self.workers.release(run_id)
        self._wake.set()

    def readmit(self, run_id: str, owner: str, number: int, device_key: str,
                stored_state: str) -> None:
        """Take in a stored run opened again (its trainer already made): it keeps its
        number, and being ended it holds no place under the caps."""
        with self._lock:
            self.store.put(RunEntry(run_id, owner, number, device_key, self.clock(),
                                    saved_state=stored_state))
            self.store.set_owner(run_id, owner)
            self._ensure_reaper()

    # --- the run store --------------------------------------------------------------------
    def _save_due(self, entry: RunEntry) -> bool:
        state = self.workers.state(entry.run_id)
        return (self.workers.unsaved_epoch(entry.run_id)
                or (state in ENDED and state != entry.saved_state))

    def _save(self, run_id: str) -> None:
        """Store the run if it ended an epoch or ended since it was last stored. One save
        at a time, each deciding on the entry as the one before left it, so a run is
        stored once per change and never an older state over a newer one. Not under the
        registry's lock: a page must not wait for a write."""
        with self._saving:
            with self._lock:
                entry = self.store.get(run_id)
            if entry is None or not self._save_due(entry):
                return
            found = self.workers.stored(run_id, entry.owner, entry.number)
            if found is None or found[0].progress.step == 0:
                return  # nothing trained, nothing worth keeping
            try:
                self.store.save_run(*found)
            except Exception:  # a full disk must not end the run or the page that frees it
                log.exception("storing run %s failed", run_id)
                return
            with self._lock:
                current = self.store.get(run_id)
                if current is not None and current.number == entry.number:
                    self.store.put(replace(current, saved_state=found[0].state))

    def history(self, owner: str) -> list[RunSummary]:
        """The session's stored runs, oldest first (ended, or as at their last epoch end)."""
        return [run.summary() for run in self.store.stored_runs(owner)]

    def stored_run(self, owner: str, run_id: str,
                   number: int | None = None) -> tuple[StoredRun, StateDict] | None:
        """One of the owner's stored runs and its weights (None if gone or not theirs)."""
        run = self.store.stored_run(run_id, number)
        if run is None or run.owner != owner:
            return None
        weights = self.store.stored_weights(run.run_id, run.number)
        return None if weights is None else (run, weights)

    def evictions(self, owner: str) -> list[str]:
        """The owner's stored runs evicted (to stay in bounds) since last asked."""
        return self.store.take_evictions(owner)

    # --- commands ----------------------------------------------------------------------
    def request_start(self, run_id: str, owner: str | None = None) -> None:
        """Train (or resume) now if the device has a free slot, else join its queue."""
        self.check_owner(run_id, owner)
        with self._lock:
            entry = self.store.get(run_id)
            if (entry is None or self.workers.state(run_id) not in (READY, PAUSED)
                    or self.is_queued(run_id)):
                return
            self.reclaim(run_id)
            self.store.put(replace(self.store.get(run_id), idle_note=""))
            self.store.enqueue(run_id)
            self._schedule()

    def _take_off_queue(self, run_id: str) -> RunEntry | None:
        """The run's entry, no longer waiting for a slot (None if there is no such run)."""
        with self._lock:
            entry = self.store.get(run_id)
            if entry is not None:
                self.store.dequeue(run_id)
            return entry

    def pause(self, run_id: str, owner: str | None = None) -> None:
        self.check_owner(run_id, owner)
        if self._take_off_queue(run_id) is not None:
            self.workers.pause(run_id)

    def stop(self, run_id: str, owner: str | None = None) -> None:
        self.check_owner(run_id, owner)
        if self._take_off_queue(run_id) is None:
            return
        self.workers.stop(run_id)
        self._wake.set()

    def reset(self, run_id: str, owner: str | None = None) -> None:
        """Keep the run's curves for comparison, then re-initialise it from its seed."""
        self.check_owner(run_id, owner)
        entry = self._take_off_queue(run_id)
        if entry is None:
            return
        self.workers.stop(run_id)
        self._save(run_id)
        self.workers.reinitialise(run_id)
        with self._lock:
            current = self.store.get(run_id)
            if current is not None:
                number = self.store.next_number(current.owner)
                self.store.put(replace(current, number=number, idle_note="", saved_state=""))
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
        """Follow the pages' connections, pause or free unseen runs, start queued runs
        where a slot is free, then store runs that ended an epoch or ended."""
        now = self.clock()
        to_free = []
        self._follow_connections(now)
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
            to_save = [entry.run_id for entry in self.store.entries()
                       if entry.run_id not in to_free and self._save_due(entry)]
        for run_id in to_save:
            self._save(run_id)
        for run_id in to_free:
            self.remove(run_id)

    def _follow_connections(self, now: float) -> None:
        """A run a connected page shows is seen, however rarely its throttled page asks;
        one that no connected page shows for `disconnected_release` is paused and released
        from the caps (its records and weights stay until the idle stop frees it)."""
        if self.liveness is None:
            return
        run_ids = self.run_ids()
        connected = self.liveness(run_ids)  # outside the lock: it asks the web server
        if connected is None:
            return
        connected = set(connected)
        with self._lock:
            for run_id in run_ids:
                if self.store.get(run_id) is None:
                    continue  # freed while the web server was asked
                client = self.client(run_id)
                if run_id in connected:
                    client.disconnected_since = None
                    self.store.touch(run_id, now)
                    continue
                if client.disconnected_since is None:
                    client.disconnected_since = now
                if (now - client.disconnected_since >= self.disconnected_release
                        and self._holds(run_id)):
                    self._release(run_id, now - client.disconnected_since)

    def _release(self, run_id: str, gone_seconds: float) -> None:
        entry = self.store.get(run_id)
        if entry is None:
            return
        self.store.dequeue(run_id)
        self.workers.pause(run_id)
        self.client(run_id).released = True
        self.store.put(replace(entry, idle_note=(
            f"Paused because no page of this browser showed it for {gone_seconds:.0f} s "
            "(its tab was closed), so it no longer holds a training place. Press Resume "
            "to go on.")))
        log.info("run %s released: no connected page for %.0f s", run_id, gone_seconds)

    def is_connected(self, run_id: str) -> bool | None:
        """A page of its owner is connected, as of the last sweep (None: not followed)."""
        if self.liveness is None:
            return None
        with self._lock:
            client = self._clients.get(run_id)
            return None if client is None else client.disconnected_since is None

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
