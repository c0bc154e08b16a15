"""Load trained weights from a file (the playground's own `.pt`, or `.safetensors`) into the
current network, as a new run of this session that is ready: every Inspect panel can look
at it and Train can go on from it."""
from __future__ import annotations

import streamlit as st

from playground import checkpoint
from playground import spec as S
from playground.data.datasets import DataError
from playground.runs import RunLimitError
from playground.ui import runs, session
from playground.ui.build.layer_labels import in_page_words
from playground.ui.text import plain

COUNTER_KEY = "weights_uploads"   # bumped to clear the uploader after each file
NOTE_KEY = "weights_upload_note"  # what the last file did, shown once


def panel(config: S.TrainingConfig, where: str) -> None:
    """The uploader for the current network; `config` is what the loaded run trains with."""
    model_spec = session.current_spec()
    key = f"weights-{where}-{st.session_state.get(COUNTER_KEY, 0)}"
    st.file_uploader(
        f"Load trained weights for {plain(model_spec.name)} (.pt or .safetensors)",
        type=["pt", "safetensors"], key=key, on_change=_uploaded, args=(key, config),
        max_upload_size=checkpoint.MAX_CHECKPOINT_BYTES // 2**20,
        help="Weights downloaded from this playground (.pt or .safetensors), or saved with "
             "the exported code. The file is read as tensors only, never as code, and must "
             "fit the current network layer by layer.")
    note = st.session_state.pop(NOTE_KEY, None)
    if note:
        (st.success if note[0] == "success" else st.error)(note[1])


def _uploaded(key: str, config: S.TrainingConfig) -> None:
    upload = st.session_state.get(key)
    st.session_state[COUNTER_KEY] = st.session_state.get(COUNTER_KEY, 0) + 1
    if upload is None:
        return
    model_spec = session.current_spec()
    try:
        state = checkpoint.read_state_dict(upload.getvalue())
        checkpoint.check_fits(state, model_spec)
        runs.start_run(model_spec, config, start=False, initial_weights=state,
                       origin=f"loaded from the file {upload.name}")
    except (checkpoint.CheckpointError, DataError, S.SpecError, RunLimitError,
            ValueError, RuntimeError) as error:
        st.session_state[NOTE_KEY] = ("error", f"**{plain(upload.name)}** was not loaded: "
                                               f"{plain(in_page_words(str(error)))}")
        return
    st.session_state[NOTE_KEY] = (
        "success", f"Loaded **{plain(upload.name)}** into **{plain(model_spec.name)}**: a new "
                   f"run, ready, on {plain(config.dataset)}. Inspect looks at these weights; "
                   "Train goes on from them.")
