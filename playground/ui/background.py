"""Work a live page needs now and then but must not wait for, done off its refresh.

Some of what the Train page shows changes only a few times an epoch but takes a forward
pass to compute (dead filters after each test evaluation): done inside the refresh it made
that refresh several times slower than the others. Instead the refresh hands it to the
server's one page-work thread and shows the newest result it has; the result of the new
version arrives with a later refresh (twice a second while the run trains).

One worker thread for the whole server, at one intra-op thread like a page thread
(`use_one_thread_for_page_work`): sessions' background work queues instead of competing
for the cores the training threads use. The work gets its inputs as arguments, never reads
the session (Streamlit's session state belongs to the page's thread).
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st

from playground.train.threads import use_one_thread_for_page_work

_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="page-work",
                             initializer=use_one_thread_for_page_work)


@dataclass
class _Work:
    series: object
    version: object
    future: Future
    # The newest finished result of the series, possibly of an older version.
    value: Any = None
    done: bool = False


def latest(name: str, series: object, version: object, compute: Callable[[], Any], *,
           wait: bool = False) -> tuple[Any, bool]:
    """(the newest result of `compute` for this session's `name`, whether it is of
    `version`). A new version starts `compute` in the background; until it is done the
    result of the series' previous version comes back (None before the first, and for a
    new series: one run's result never stands in for another's). With `wait` (a page that
    will not refresh by itself) it waits for the result of `version` instead. An error in
    `compute` is raised here, in the page, as if it had run here."""
    key = f"background-{name}"
    work: _Work | None = st.session_state.get(key)
    if work is None or (work.series, work.version) != (series, version):
        previous = work.value if work is not None and work.series == series else None
        work = _Work(series, version, _worker.submit(compute), value=previous)
        st.session_state[key] = work
    if not work.done and (wait or work.future.done()):
        work.value, work.done = work.future.result(), True
    return work.value, work.done
