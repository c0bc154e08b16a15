"""The executor of this server process: every page and script in it shares the one. Its
runs are stored in the state folder ($PLAYGROUND_STATE), so they survive a restart."""
from __future__ import annotations

import threading

from playground.runs.local import LocalExecutor
from playground.runs.sqlite_store import open_store

_executor: LocalExecutor | None = None
_making = threading.Lock()


def executor() -> LocalExecutor:
    """Made on first use; sessions, pages and scripts in this process all reach it."""
    global _executor
    with _making:
        if _executor is None:
            _executor = LocalExecutor(store=open_store())
        return _executor
