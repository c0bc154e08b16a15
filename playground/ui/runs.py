"""Runs live in a process-wide registry, not in one browser session.

Streamlit gives no callback when a session ends, so a run is found again by the id kept
in the session (and the page URL, so a reload reattaches). Datasets are loaded once per
process and shared read-only by every session.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

import streamlit as st

from .. import data as D
from .. import spec as S
from .. import train as T

MAX_ACTIVE_RUNS = 8     # training or paused, whole server: a classroom shares one machine


class RunLimitError(RuntimeError):
    pass


@dataclass
class Run:
    run_id: str
    trainer: T.Trainer
    dataset_note: str = ""
    last_seen: float = field(default_factory=time.monotonic)


class RunRegistry:
    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def add(self, run: Run) -> None:
        with self._lock:
            active = [r for r in self._runs.values()
                      if r.trainer.state in (T.RUNNING, T.PAUSED)]
            if len(active) >= MAX_ACTIVE_RUNS:
                raise RunLimitError(f"the server already has {len(active)} active training "
                                    f"runs (limit {MAX_ACTIVE_RUNS}); stop one or try later")
            self._runs[run.run_id] = run

    def get(self, run_id: str | None) -> Run | None:
        with self._lock:
            run = self._runs.get(run_id) if run_id else None
        if run is not None:
            run.last_seen = time.monotonic()
        return run

    def remove(self, run_id: str) -> None:
        with self._lock:
            run = self._runs.pop(run_id, None)
        if run is not None:
            run.trainer.stop()


@st.cache_resource
def registry() -> RunRegistry:
    return RunRegistry()


def dataset(name: str) -> D.Dataset:
    """Loaded once per server process; every session shares the tensors read-only."""
    return _cached_dataset(name, str(D.default_data_dir()))


@st.cache_resource(show_spinner=False, max_entries=4)
def _cached_dataset(name: str, data_dir: str) -> D.Dataset:
    return D.load_dataset(name, data_dir)


def current_run() -> Run | None:
    run_id = st.session_state.get("run_id") or st.query_params.get("run")
    run = registry().get(run_id)
    if run is not None:
        st.session_state["run_id"] = run.run_id
    return run


def start_run(model_spec: S.ModelSpec, data: D.Dataset, config: S.TrainingConfig) -> Run:
    """Replace this session's run with a new one and start it."""
    old = current_run()
    if old is not None:
        registry().remove(old.run_id)
    trainer = T.Trainer(model_spec, data, config, T.TrainerOptions(evals_per_epoch=4))
    note = f"Training on {data.source}." if data.is_subset else ""
    run = Run(run_id=secrets.token_urlsafe(8), trainer=trainer, dataset_note=note)
    registry().add(run)
    st.session_state["run_id"] = run.run_id
    st.query_params["run"] = run.run_id
    trainer.start()
    return run
