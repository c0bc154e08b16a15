"""The run store on disk, so that a restart (a crash, a deploy) loses at most the epoch each
run was in: `runs.sqlite` (the standard library's sqlite3) and one weights file per stored
run beside it, in the state folder ($PLAYGROUND_STATE, default
~/.cache/cnn-playground/state).

The active runs' state (entries, queue) stays in memory, as in InMemoryStore: after a
restart their trainers are gone. A stored run that was still training when its process
went away reads back as "interrupted", as it was at its last stored epoch end. Weights are
read back as tensors only (`playground.checkpoint`), never by unpickling objects.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from pathlib import Path

from playground import checkpoint
from playground import spec as S
from playground.runs.executor import StateDict
from playground.runs.store import (Eviction, InMemoryStore, RunStore, StoreBounds, StoredPlace,
                                   StoredRun, note_eviction, runs_to_evict)
from playground.train.records import (EpochRecord, EvalRecord, LrChange, RunProgress,
                                      StepRecord)
from playground.train.trainer import ENDED, INTERRUPTED

log = logging.getLogger(__name__)

DATABASE = "runs.sqlite"
WEIGHTS = "weights"
SCHEMA = """
CREATE TABLE IF NOT EXISTS stored_runs (
    run_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    owner TEXT NOT NULL,
    state TEXT NOT NULL,
    process TEXT NOT NULL,      -- which server process stored it (see SqliteStore.process)
    created_at REAL NOT NULL,
    nbytes INTEGER NOT NULL,
    weights_file TEXT NOT NULL,
    body TEXT NOT NULL,         -- JSON: spec, settings, records (see _body)
    PRIMARY KEY (run_id, number)
);
CREATE INDEX IF NOT EXISTS stored_runs_by_owner ON stored_runs (owner);
"""
COLUMNS = "run_id, number, owner, state, process, created_at, nbytes, weights_file, body"


def state_folder() -> Path:
    default = Path.home() / ".cache" / "cnn-playground" / "state"
    return Path(os.environ.get("PLAYGROUND_STATE") or default).expanduser()


def open_store(folder: Path | None = None, bounds: StoreBounds | None = None) -> RunStore:
    """The server's store: on disk in the state folder, or in memory (and said in the log)
    when that folder or its database cannot be used, since the server must start anyway."""
    folder = folder or state_folder()
    try:
        return SqliteStore(folder, bounds)
    except (OSError, sqlite3.Error) as error:
        log.error("the run store in %s cannot be used (%s): finished runs will not survive "
                  "a restart", folder, error)
        return InMemoryStore(bounds)


class SqliteStore(InMemoryStore):
    def __init__(self, folder: Path, bounds: StoreBounds | None = None) -> None:
        super().__init__(bounds)
        self.folder = Path(folder)
        self.weights_folder = self.folder / WEIGHTS
        self.weights_folder.mkdir(parents=True, exist_ok=True)
        # Rows stored by this process; a row still training that another process stored
        # was cut off by that process's end (or is another replica's: see RELIABILITY.md).
        self.process = secrets.token_hex(8)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.folder / DATABASE, check_same_thread=False,
                                   timeout=30)
        # WAL: a killed process loses no committed row, and readers never block the writer.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._drop_strays()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writing ----------------------------------------------------------------------------
    def save_run(self, run: StoredRun, weights: StateDict) -> None:
        data = checkpoint.to_bytes(weights)
        body = json.dumps(_body(run))
        name = _weights_name(run.run_id, run.number)
        with self._lock:
            row = self._db.execute("SELECT created_at FROM stored_runs WHERE run_id = ? AND "
                                   "number = ?", run.key).fetchone()
            created_at = row[0] if row else time.time()
            _write_atomically(self.weights_folder / name, data)
            with self._db:
                self._db.execute(
                    f"INSERT OR REPLACE INTO stored_runs ({COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run.run_id, run.number, run.owner, run.state, self.process, created_at,
                     len(data) + len(body), name, body))
            saved = StoredPlace(run.run_id, run.number, run.owner, created_at,
                                len(data) + len(body))
            self._evict(runs_to_evict(self._places(), saved, self.bounds))

    def _places(self) -> list[StoredPlace]:
        rows = self._db.execute("SELECT run_id, number, owner, created_at, nbytes "
                                "FROM stored_runs").fetchall()
        return [StoredPlace(*row) for row in rows]

    def _evict(self, evictions: list[Eviction]) -> None:
        for eviction in evictions:
            key = eviction.place.key
            row = self._db.execute(f"SELECT {COLUMNS} FROM stored_runs WHERE run_id = ? AND "
                                   "number = ?", key).fetchone()
            with self._db:
                self._db.execute("DELETE FROM stored_runs WHERE run_id = ? AND number = ?", key)
            if row is None:
                continue
            (self.weights_folder / row[7]).unlink(missing_ok=True)
            if (evicted := self._from_row(row)) is not None:
                note_eviction(self._evictions, evicted, eviction.reason)

    def _drop_strays(self) -> None:
        """Weights files without a row (killed between the two writes) and rows without
        their file (deleted by hand) are of no use: drop them."""
        with self._lock:
            rows = self._db.execute("SELECT run_id, number, weights_file "
                                    "FROM stored_runs").fetchall()
            named = {row[2] for row in rows}
            for path in self.weights_folder.iterdir():
                if path.name not in named:
                    path.unlink(missing_ok=True)
            with self._db:
                for run_id, number, name in rows:
                    if not (self.weights_folder / name).is_file():
                        self._db.execute("DELETE FROM stored_runs WHERE run_id = ? AND "
                                         "number = ?", (run_id, number))

    # --- reading ----------------------------------------------------------------------------
    def stored_runs(self, owner: str) -> list[StoredRun]:
        with self._lock:
            rows = self._db.execute(f"SELECT {COLUMNS} FROM stored_runs WHERE owner = ? "
                                    "ORDER BY created_at, rowid", (owner,)).fetchall()
        return [run for row in rows if (run := self._from_row(row)) is not None]

    def stored_run(self, run_id: str, number: int | None = None) -> StoredRun | None:
        query = f"SELECT {COLUMNS} FROM stored_runs WHERE run_id = ?"
        arguments: tuple = (run_id,)
        if number is not None:
            query, arguments = query + " AND number = ?", (run_id, number)
        with self._lock:
            row = self._db.execute(query + " ORDER BY number DESC LIMIT 1",
                                   arguments).fetchone()
        return self._from_row(row) if row else None

    def stored_weights(self, run_id: str, number: int) -> StateDict | None:
        with self._lock:
            row = self._db.execute("SELECT weights_file FROM stored_runs WHERE run_id = ? "
                                   "AND number = ?", (run_id, number)).fetchone()
            if row is None:
                return None
            try:
                data = (self.weights_folder / row[0]).read_bytes()
            except OSError as error:
                log.warning("stored weights of run %s #%d unreadable: %s", run_id, number, error)
                return None
        try:
            return checkpoint.read_state_dict(data)
        except checkpoint.CheckpointError as error:
            log.warning("stored weights of run %s #%d refused: %s", run_id, number, error)
            return None

    def take_evictions(self, owner: str) -> list[str]:
        with self._lock:
            return self._evictions.pop(owner, [])

    def _from_row(self, row: tuple) -> StoredRun | None:
        run_id, number, owner, state, process, created_at, nbytes, _, body = row
        try:
            run = _from_body(json.loads(body), run_id, number, owner, state, created_at, nbytes)
        except (ValueError, TypeError, KeyError) as error:  # written by another version
            log.warning("stored run %s #%d unreadable: %s", run_id, number, error)
            return None
        if state not in ENDED and process != self.process:
            epoch = run.progress.step // max(1, run.steps_per_epoch)
            run = dataclasses.replace(
                run, state=INTERRUPTED,
                message=f"the server stopped while this run trained; it is back as it was "
                        f"at the end of epoch {epoch}")
        return run


def _weights_name(run_id: str, number: int) -> str:
    """A file name from any run id (ids are not trusted to be safe file names)."""
    return hashlib.sha1(f"{run_id}\0{number}".encode()).hexdigest()[:24] + ".pt"


def _write_atomically(path: Path, data: bytes) -> None:
    """The old file or the new one, never half of one, whenever the process dies."""
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _body(run: StoredRun) -> dict:
    progress = run.progress
    return {"spec": run.spec.to_dict(), "config": dataclasses.asdict(run.config),
            "dataset_name": run.dataset_name, "device": run.device, "message": run.message,
            "steps_per_epoch": run.steps_per_epoch, "step": progress.step,
            "train_seconds": progress.train_seconds,
            "steps": [dataclasses.asdict(r) for r in progress.steps],
            "evals": [dataclasses.asdict(r) for r in progress.evals],
            "epochs": [dataclasses.asdict(r) for r in progress.epochs],
            "lr_changes": [dataclasses.asdict(r) for r in progress.lr_changes]}


def _from_body(body: dict, run_id: str, number: int, owner: str, state: str,
               created_at: float, nbytes: int) -> StoredRun:
    progress = RunProgress(body["step"], body["train_seconds"],
                           [StepRecord(**r) for r in body["steps"]],
                           [EvalRecord(**r) for r in body["evals"]],
                           [EpochRecord(**r) for r in body["epochs"]],
                           # runs stored before rates set by hand were kept have none
                           [LrChange(**r) for r in body.get("lr_changes", [])])
    return StoredRun(run_id, number, owner, S.parse_spec(body["spec"]),
                     S.TrainingConfig(**body["config"]), body["dataset_name"], body["device"],
                     state, body["message"], body["steps_per_epoch"], progress, created_at,
                     nbytes)
