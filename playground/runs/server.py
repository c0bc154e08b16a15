"""The executor of this server process: every page and script in it shares the one."""
from __future__ import annotations

import threading

from playground.runs.local import LocalExecutor

_executor: LocalExecutor | None = None
_making = threading.Lock()


def executor() -> LocalExecutor:
    """Made on first use; sessions, pages and scripts in this process all reach it."""
    global _executor
    with _making:
        if _executor is None:
            _executor = LocalExecutor()
        return _executor
