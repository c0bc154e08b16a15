"""Server-side refresh times of the live panels, for scripts/ui_bench.py.

Off unless the environment variable PLAYGROUND_TIMING_LOG names a file: then every timed
block appends one JSON line {"what", "ms", "at", ...}. The benchmark starts a real
`streamlit run` server with it set and reads the file; users never pay for it.
"""
from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager
from typing import Iterator

LOG_ENV = "PLAYGROUND_TIMING_LOG"
_write_lock = threading.Lock()  # sessions refresh in threads of their own


@contextmanager
def timed(what: str, **fields: object) -> Iterator[dict]:
    """Time the block; the dict it yields takes extra fields to log (e.g. the step shown)."""
    path = os.environ.get(LOG_ENV)
    extra: dict = dict(fields)
    if not path:
        yield extra
        return
    started = time.perf_counter()
    try:
        yield extra
    finally:
        record = {"what": what, "ms": (time.perf_counter() - started) * 1000,
                  "at": time.time(), **extra}
        with _write_lock, open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record, default=str) + "\n")


def note(what: str, ms: float, **fields: object) -> None:
    """Log one figure measured elsewhere (e.g. from a button press to the first point)."""
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    record = {"what": what, "ms": ms, "at": time.time(), **fields}
    with _write_lock, open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(record, default=str) + "\n")
