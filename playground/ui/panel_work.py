"""Session glue for the Inspect panels whose work takes seconds (favourite images,
attributions, adversarial noise, the feature space): results kept per snapshot, a live
run recomputed at most every few seconds, and a progress bar whose every update lets
Streamlit stop the work when the user leaves the panel (a widget change interrupts the
script at its next Streamlit call)."""
from __future__ import annotations

import time
from typing import Callable, Hashable, TypeVar

import streamlit as st

from playground.analysis.time_box import Progress, live_interval

T = TypeVar("T")
KEPT = 12   # results kept per panel: a scrub back and forth through the time machine


def per_snapshot(name: str, key: Hashable, compute: Callable[[], T], live_running: bool,
                 every: float) -> tuple[T, Hashable]:
    """(result, the key it was computed for). A result for `key` is kept; while the run
    trains, a new one is computed at most every `every` seconds (longer for slow work:
    `time_box.live_interval`) and the latest is shown in between (its key says which step
    it is from)."""
    store: dict = st.session_state.setdefault(f"insp_work_{name}", {})
    if key in store:
        return store[key], key
    last = st.session_state.get(f"insp_work_{name}_last")  # (finished at, took, key)
    if live_running and last is not None and last[2] in store and \
            time.monotonic() - last[0] < live_interval(every, last[1]):
        return store[last[2]], last[2]
    started = time.monotonic()
    result = compute()
    store[key] = result
    while len(store) > KEPT:
        store.pop(next(iter(store)))
    finished = time.monotonic()
    st.session_state[f"insp_work_{name}_last"] = (finished, finished - started, key)
    return result, key


def progress_bar(text: str) -> tuple[Progress, Callable[[], None]]:
    """(a progress callback for a TimeBox, a function that removes the bar)."""
    slot = st.empty()
    bar = slot.progress(0.0, text=text)

    def report(fraction: float, detail: str) -> None:
        bar.progress(fraction, text=f"{text}: {detail}")

    return report, slot.empty
