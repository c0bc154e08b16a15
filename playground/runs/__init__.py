"""Runs: an executor owns every run; pages and scripts hold run ids and plain data."""
from playground.runs.executor import (DatasetInfo, Executor, NotOwnerError, RunLimitError,
                                      RunOptions, RunRecords, RunStatus, RunSummary,
                                      SnapshotInfo, UnknownRunError, run_label)
from playground.runs.local import LocalExecutor
from playground.runs.registry import KEEP_RUNS_PER_SESSION, RunRegistry
from playground.runs.sqlite_store import SqliteStore, open_store
from playground.runs.store import InMemoryStore, RunEntry, RunStore, StoreBounds, StoredRun

__all__ = ["DatasetInfo", "Executor", "InMemoryStore", "KEEP_RUNS_PER_SESSION",
           "LocalExecutor", "NotOwnerError", "RunEntry", "RunLimitError", "RunOptions",
           "RunRecords", "RunRegistry", "RunStatus", "RunStore", "RunSummary", "SnapshotInfo",
           "SqliteStore", "StoreBounds", "StoredRun", "UnknownRunError", "open_store",
           "run_label"]
