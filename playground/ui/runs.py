"""Session glue: this server's executor, and which run this browser session holds.

A run is found again by the id kept in the session (and the page URL, so a reload
reattaches); once the run is gone from memory (freed, or the server restarted) it comes
back from the run store as an ended run. Everything else about runs lives in
playground.runs.
"""
from __future__ import annotations

import secrets

import streamlit as st

from playground import spec as S
from playground.data.datasets import DataError
from playground.runs import LocalExecutor, RunOptions, RunRegistry, server
from playground.runs.executor import StateDict

# What the Train page shows: four test evaluations per epoch, norms and predictions.
APP_RUN_OPTIONS = RunOptions(evals_per_epoch=4, record_norms=True, keep_predictions=True)


@st.cache_resource
def executor() -> LocalExecutor:
    return server.executor()


def registry() -> RunRegistry:
    return executor().registry


def session_owner() -> str:
    """This browser session's token; a reload takes it back from the run in the URL."""
    owner = st.session_state.get("run_owner")
    if owner is None:
        owner = executor().owner_of(st.query_params.get("run")) or secrets.token_urlsafe(8)
        st.session_state["run_owner"] = owner
    return owner


def current_run_id() -> str | None:
    """The session's run, if it still exists; asking counts as the page showing it."""
    run_id = st.session_state.get("run_id") or st.query_params.get("run")
    if not executor().touch(run_id):
        run_id = _reopen_stored(run_id)
        if run_id is None:
            return None
    st.session_state["run_id"] = run_id
    return run_id


def _reopen_stored(run_id: str | None) -> str | None:
    """The session's run from the run store, once it is gone from memory (the idle reaper
    freed it, or the server restarted); tried once per id, since a failing open (an
    evicted run, a dataset that is gone) would otherwise cost every refresh."""
    if not run_id or st.session_state.get("unopenable_run") == run_id:
        return None
    try:
        reopened = executor().open_stored(session_owner(), run_id)
    except (DataError, RuntimeError, ValueError):
        reopened = None
    if reopened is None:
        st.session_state["unopenable_run"] = run_id
        return None
    st.query_params["run"] = reopened
    return reopened


def open_stored(run_id: str, number: int) -> str | None:
    """Replace this session's run with one of its stored runs, opened to look at again;
    its id, or None when it is gone. DataError when its dataset cannot be loaded."""
    old = current_run_id()
    if old is not None:
        executor().free(old)
    opened = executor().open_stored(session_owner(), run_id, number)
    if opened is not None:
        st.session_state["run_id"] = opened
        st.query_params["run"] = opened
    return opened


def start_run(model_spec: S.ModelSpec, config: S.TrainingConfig, device: str = "auto",
              start: bool = True, initial_weights: StateDict | None = None) -> str:
    """Replace this session's run with a new one on `config.dataset` and start it (or
    queue it); `initial_weights` instead of the seed's: training on from a stored run."""
    owner = session_owner()
    old = current_run_id()
    if old is not None:
        executor().free(old)
    run_id = executor().create(owner, model_spec, config, config.dataset, device,
                               APP_RUN_OPTIONS, initial_weights)
    st.session_state["run_id"] = run_id
    st.query_params["run"] = run_id
    if start:
        executor().start(run_id)
    return run_id
