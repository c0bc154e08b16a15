"""What a session sees of a run started in another browser: a banner saying so, and a
button that copies the run's network and settings into the session's own, to train there.
A watcher never controls the run, never downloads its weights, never reads its history."""
from __future__ import annotations

import dataclasses

import streamlit as st

from playground import spec as S
from playground.runs import RunStatus
from playground.ui import runs, session

BANNER = "You are watching a run started in another browser"
COPIED_KEY = "watch_copied"   # session state: the name of the network just copied


def banner(run: RunStatus, where: str) -> None:
    """The banner above a watched run, with the copy button (`where` keys it per page)."""
    st.warning(f"**{BANNER}** (#{run.number}, {run.spec.name}). You can look, but only that "
               "browser can train, pause, step, stop or reset it, change its settings or "
               "download its weights.", icon=":material/visibility:")
    st.button("Copy its network and settings into my session", key=f"watch-copy-{where}",
              icon=":material/content_copy:", on_click=copy_into_session, args=(run,),
              help="Your own copy, to train in this browser; the run you watch goes on "
                   "unchanged")


def copy_into_session(run: RunStatus) -> None:
    """Make the run's network and settings this session's own, and stop watching it."""
    section = S.TrainingSpec(**dataclasses.asdict(run.config))
    session.set_spec(run.spec.replace(training=section))
    runs.stop_watching()
    st.session_state[COPIED_KEY] = run.spec.name


def copied_note() -> None:
    """Once after a copy: where the copy is and what to do with it."""
    name = st.session_state.pop(COPIED_KEY, None)
    if name:
        st.success(f"Copied **{name}** and its settings into your session: press **Train** "
                   "to train your own.")
