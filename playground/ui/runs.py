"""Session glue: this server's executor, which run this browser session shows, and the
commands it may give.

A session's own run is found again by the id kept in the session (and the page URL, so a
reload of the same browser reattaches). A run is the session's own only when its browser
(its owner secret, see `ownership`) started it: opening another browser's address shows
that run read-only, and every command below carries this browser's owner, so the
executor refuses it for any run but this browser's.
Once a run is gone from memory (freed, or the server restarted) it comes back from the
run store as an ended run.
"""
from __future__ import annotations

import streamlit as st

from playground import spec as S
from playground.data.datasets import DataError
from playground.runs import (Executor, NotOwnerError, RunLimitError, RunOptions,
                             RunRegistry, RunStatus, server)
from playground.runs.executor import StateDict
from playground.ui import client_address, connections, ownership, uploaded

# What the Train page shows: four test evaluations per epoch, norms and predictions.
APP_RUN_OPTIONS = RunOptions(evals_per_epoch=4, record_norms=True, keep_predictions=True)
RUN_KEY = "run_id"           # session state: the session's own run
WATCHED_KEY = "watched_run"  # session state: another browser's run it opened (pages drop
                             # the URL's query when the user moves to another page)
ERROR_KEY = "run_error"      # session state: why the last command was refused


@st.cache_resource
def executor() -> Executor:
    """The thread backend, or the Ray backend with PLAYGROUND_EXECUTOR=ray (runs.server)."""
    return server.executor(liveness=connections.connected_runs)


def registry() -> RunRegistry:
    """The thread backend's registry (tests reach into it); the Ray backend has none here."""
    return executor().registry


def max_active_runs() -> int:
    """The cap on active runs of the whole server (or Ray cluster)."""
    return executor().max_active


def session_owner() -> str:
    """The owner id of this browser (from its secret, never from an address)."""
    return ownership.session_owner()


def current_run_id() -> str | None:
    """The run this session shows: its own (asking counts as the page showing it), else
    the run of the address it opened, its own browser's or (read-only) another's."""
    own = st.session_state.get(RUN_KEY)
    if own:
        return _shown(own)
    url_run = st.query_params.get("run") or st.session_state.get(WATCHED_KEY)
    if not url_run:
        return None
    if executor().owner_of(url_run) == session_owner():
        st.session_state[RUN_KEY] = url_run  # a reload, or another tab, of its browser
        return _shown(url_run)
    if executor().status(url_run) is None:
        return None
    st.session_state[WATCHED_KEY] = url_run
    return url_run


def _shown(run_id: str) -> str | None:
    if not executor().touch(run_id):
        run_id = _reopen_stored(run_id)
        if run_id is None:
            return None
        st.session_state[RUN_KEY] = run_id
    connections.show(run_id)
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
    owner = session_owner()
    old = st.session_state.get(RUN_KEY)
    if old is not None:
        executor().free(old, owner=owner)
    opened = executor().open_stored(owner, run_id, number)
    if opened is not None:
        st.session_state[RUN_KEY] = opened
        st.query_params["run"] = opened
        connections.show(opened)
    return opened


def stop_watching() -> None:
    """Leave another browser's run: the session shows its own again."""
    st.session_state.pop(WATCHED_KEY, None)
    if "run" in st.query_params and st.session_state.get(RUN_KEY) is None:
        del st.query_params["run"]


def is_watched(run: RunStatus | None) -> bool:
    """A run started in another browser: this session may look, never act."""
    return run is not None and run.owner != session_owner()


def start_run(model_spec: S.ModelSpec, config: S.TrainingConfig, device: str = "auto",
              start: bool = True, initial_weights: StateDict | None = None,
              origin: str = "", data_name: str | None = None) -> str:
    """Replace this session's run with a new one on `config.dataset` and start it (or
    queue it); `initial_weights` instead of the seed's: training on from a stored run, or
    weights loaded from a file (`origin` says which). `data_name` is what the data layer
    loads, when it is not this session's for `config.dataset` (a stored run's upload)."""
    owner = session_owner()
    data_name = data_name or uploaded.data_name(config.dataset)  # before freeing: may refuse
    old = st.session_state.get(RUN_KEY)
    if old is not None:
        executor().free(old, owner=owner)
    run_id = executor().create(owner, model_spec, config, data_name, device,
                               APP_RUN_OPTIONS, initial_weights,
                               address=client_address.client_address(), origin=origin)
    st.session_state[RUN_KEY] = run_id
    st.query_params["run"] = run_id
    connections.show(run_id)
    if start:
        executor().start(run_id, owner=owner)
    return run_id


# --- commands: each names this browser; a refusal is kept for the page to say ---------------

def _command(action, run_id: str, *args) -> None:
    try:
        action(run_id, *args, owner=session_owner())
    except (NotOwnerError, RunLimitError) as error:
        st.session_state[ERROR_KEY] = str(error)


def start(run_id: str) -> None:
    """Train, or resume, the run (it may wait in line for the device)."""
    _command(executor().start, run_id)


def pause(run_id: str) -> None:
    _command(executor().pause, run_id)


def step(run_id: str, epoch: bool = False) -> None:
    """Train one batch, or to the end of the epoch, then stay paused."""
    _command(executor().step_epoch if epoch else executor().step, run_id)


def stop(run_id: str) -> None:
    _command(executor().stop, run_id)


def reset(run_id: str) -> None:
    _command(executor().reset, run_id)


def set_lr(run_id: str, lr: float) -> None:
    _command(executor().set_lr, run_id, lr)


def set_augment(run_id: str, augment: bool) -> None:
    _command(executor().set_augment, run_id, augment)


def pop_error() -> str | None:
    """Why the last command was refused, once."""
    return st.session_state.pop(ERROR_KEY, None)
