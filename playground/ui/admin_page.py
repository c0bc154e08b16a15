"""Administrator page: every run on this server, whose it is and what it may cost, and a
Stop button for each. It exists only when PLAYGROUND_ADMIN_TOKEN is set (`pages`), and
opens only after that token is typed into a password field: a token in an address would
end up in browser histories and proxy logs.
"""
from __future__ import annotations

import hmac
import os

import streamlit as st

from playground.runs import RunStatus, footprint
from playground.ui import ownership, runs, session

TOKEN_ENV = "PLAYGROUND_ADMIN_TOKEN"
UNLOCKED_KEY = "admin_unlocked"   # session state: this session typed the token
MB = 2**20


def admin_token() -> str | None:
    """The token that opens the page; None (no page at all) when unset or blank."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    return token or None


def render() -> None:
    st.title("Administration")
    token = admin_token()
    if token is None:  # the page list leaves it out; a stale link still opens nothing
        st.info("The administrator page is off on this server.")
        return
    if not st.session_state.get(UNLOCKED_KEY):
        _unlock_form(token)
        return
    _run_table()


def _unlock_form(token: str) -> None:
    with st.form("admin-unlock"):
        typed = st.text_input("Administrator token", type="password", key="admin-token")
        opened = st.form_submit_button("Open")
    if not opened:
        return
    st.session_state.pop("admin-token", None)  # the token stays in no widget
    if hmac.compare_digest(typed.encode(), token.encode()):
        st.session_state[UNLOCKED_KEY] = True
        st.rerun()
    st.error("That is not the administrator token (PLAYGROUND_ADMIN_TOKEN).")


def _run_table() -> None:
    every = runs.executor().all_runs()
    holding = sum(run.holds_place for run in every)
    st.caption(f"{len(every)} run(s) on this server, {holding} of them active (they count "
               f"against the cap of {runs.max_active_runs()}). Memory is an estimate "
               "in float32: weights, gradients, optimizer state and one batch's activations "
               "(at most the activation budget).")
    message = st.session_state.pop("admin-message", None)
    if message:
        st.success(message)
    if not every:
        st.info("No runs.")
        return
    header = st.columns(COLUMN_WIDTHS)
    for column, title in zip(header, COLUMN_TITLES):
        column.markdown(f"**{title}**")
    for run in every:
        _run_row(run)


COLUMN_TITLES = ("run", "owner", "age", "state", "device", "connected", "parameters",
                 "optimizer", "activations", "total", "")
COLUMN_WIDTHS = (2.4, 1.0, 0.8, 1.5, 0.8, 0.9, 1.0, 1.0, 1.2, 0.9, 0.9)


def _run_row(run: RunStatus) -> None:
    cost = _footprint(run)
    cells = (run.label, ownership.short_owner(run.owner), _age(run.age_seconds), _state(run),
             run.device, {True: "yes", False: "no", None: "-"}[run.connected],
             _mb(cost.parameters), _mb(cost.optimizer_state),
             f"{_mb(cost.activations)} of {_mb(cost.activation_budget)}", _mb(cost.total))
    columns = st.columns(COLUMN_WIDTHS)
    for column, text in zip(columns, cells):
        column.text(text)
    columns[-1].button("Stop", key=f"admin-stop-{run.run_id}", on_click=_stop,
                       args=(run.run_id, run.label), disabled=not run.holds_place)


def _footprint(run: RunStatus) -> footprint.RunFootprint:
    """Once per run and network (a reset run keeps both)."""
    return session.cached(f"admin-cost-{run.run_id}", run.spec.name,
                          lambda: footprint.estimate(run.spec, run.config))


def _state(run: RunStatus) -> str:
    if run.queued:
        return "queued"
    if run.state == "paused" and not run.holds_place:
        return "paused, released"
    return run.state


def _stop(run_id: str, label: str) -> None:
    runs.executor().stop(run_id)  # the administrator is the server: no owner to match
    st.session_state["admin-message"] = f"Stopped {label}."


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes >= 60:
        return f"{minutes // 60}h {minutes % 60:02d}m"
    return f"{minutes}m {int(seconds % 60):02d}s"


def _mb(count: int) -> str:
    return f"{count / MB:,.1f} MB" if count >= MB // 10 else f"{count / 1024:,.1f} KB"
