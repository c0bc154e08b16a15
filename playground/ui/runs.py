"""Session glue: this server's executor, and which run this browser session holds.

A run is found again by the id kept in the session (and the page URL, so a reload
reattaches); everything else about runs lives in playground.runs.
"""
from __future__ import annotations

import secrets

import streamlit as st

from playground import spec as S
from playground.runs import LocalExecutor, RunOptions, RunRegistry, server

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
        return None
    st.session_state["run_id"] = run_id
    return run_id


def start_run(model_spec: S.ModelSpec, config: S.TrainingConfig, device: str = "auto",
              start: bool = True) -> str:
    """Replace this session's run with a new one on `config.dataset` and start it (or
    queue it)."""
    owner = session_owner()
    old = current_run_id()
    if old is not None:
        executor().free(old)
    run_id = executor().create(owner, model_spec, config, config.dataset, device,
                               APP_RUN_OPTIONS)
    st.session_state["run_id"] = run_id
    st.query_params["run"] = run_id
    if start:
        executor().start(run_id)
    return run_id
