"""Which runs a connected page shows: the liveness the run registry follows.

Streamlit's runtime knows which sessions still have a browser connected; a closed tab's
session disconnects at once, while a hidden tab (timers throttled) stays connected. Each
session that shows its own run records the pair here; the registry's reaper asks, from
its own thread, which of its runs a connected session shows. Plain run ids cross over, so
the runs package imports no Streamlit.
"""
from __future__ import annotations

import threading
from collections.abc import Collection

from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

_shown: dict[str, str] = {}   # session id -> the run its pages show
_lock = threading.Lock()


def show(run_id: str) -> None:
    """This session's pages show its own run `run_id` (the latest call wins)."""
    context = get_script_run_ctx()
    if context is None:
        return
    with _lock:
        _shown[context.session_id] = run_id


def connected_runs(run_ids: Collection[str]) -> set[str] | None:
    """Those of `run_ids` that a connected session shows; None when this process has no
    web server to ask (a script, or a test's stand-in runtime)."""
    if not Runtime.exists():
        return None
    runtime = Runtime.instance()
    wanted = set(run_ids)
    with _lock:
        for session_id in [s for s, run_id in _shown.items() if run_id not in wanted]:
            del _shown[session_id]  # its run is gone: forget the pair
        shown = list(_shown.items())
    connected = set()
    for session_id, run_id in shown:
        active = runtime.is_active_session(session_id)
        if not isinstance(active, bool):
            return None  # a stand-in runtime (AppTest) knows no connections
        if active:
            connected.add(run_id)
    return connected
