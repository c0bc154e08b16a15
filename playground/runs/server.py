"""The executor of this server process: every page and script in it shares the one. Its
runs are stored in the state folder ($PLAYGROUND_STATE), so they survive a restart.

`PLAYGROUND_EXECUTOR=ray` makes it the Ray backend (`playground.runs.ray_executor`), which
joins the cluster at RAY_ADDRESS or starts a local one; anything else, or nothing, is the
in-process thread backend. Ray is imported only in the first case.
"""
from __future__ import annotations

import os
import threading

from playground.runs.executor import Executor
from playground.runs.local import LocalExecutor
from playground.runs.registry import Liveness
from playground.runs.sqlite_store import open_store

BACKENDS = ("local", "ray")

_executor: Executor | None = None
_making = threading.Lock()


def backend() -> str:
    """The backend named by PLAYGROUND_EXECUTOR; ValueError for an unknown name."""
    name = (os.environ.get("PLAYGROUND_EXECUTOR") or "local").strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"PLAYGROUND_EXECUTOR={name!r}: use one of {', '.join(BACKENDS)}")
    return name


def executor(liveness: Liveness | None = None) -> Executor:
    """Made on first use; sessions, pages and scripts in this process all reach it. The web
    pages pass how to tell which runs a connected page shows (`liveness`); a script that
    made the executor first leaves it to them."""
    global _executor
    with _making:
        if _executor is None:
            _executor = _make(liveness)
        elif liveness is not None:
            _set_liveness(_executor, liveness)
        return _executor


def _make(liveness: Liveness | None) -> Executor:
    if backend() == "ray":
        from playground.runs.ray_executor import RayExecutor  # imports Ray: only here
        return RayExecutor(liveness=liveness)
    return LocalExecutor(store=open_store(), liveness=liveness)


def _set_liveness(made: Executor, liveness: Liveness) -> None:
    if isinstance(made, LocalExecutor):
        made.registry.liveness = liveness
    else:
        made.liveness = liveness
