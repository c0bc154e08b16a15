"""The executor of this server process: every page and script in it shares the one. Its
runs are stored in the state folder ($PLAYGROUND_STATE), so they survive a restart."""
from __future__ import annotations

import threading

from playground.runs.local import LocalExecutor
from playground.runs.registry import Liveness
from playground.runs.sqlite_store import open_store

_executor: LocalExecutor | None = None
_making = threading.Lock()


def executor(liveness: Liveness | None = None) -> LocalExecutor:
    """Made on first use; sessions, pages and scripts in this process all reach it. The web
    pages pass how to tell which runs a connected page shows (`liveness`); a script that
    made the executor first leaves it to them."""
    global _executor
    with _making:
        if _executor is None:
            _executor = LocalExecutor(store=open_store(), liveness=liveness)
        elif liveness is not None:
            _executor.registry.liveness = liveness
        return _executor
