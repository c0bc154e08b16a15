"""How a network comes to and leaves the Build page: presets, share links (the address
bar always is one), lesson files in and out, PyTorch code and trained weights out."""
from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from playground import checkpoint
from playground import exports
from playground import share
from playground import spec as S
from playground.model import build as M
from playground.presets import load_preset, preset_names
from playground.ui import runs
from playground.ui import session
from playground.ui.build import state
from playground.ui.build.layer_labels import in_page_words
from playground.ui.text import plain

APPLIED_KEY = "lesson_applied"   # the `lesson` URL value this session already opened
UPLOADS_KEY = "build_uploads"    # bumped to clear the file uploader


def preset_picker(column: DeltaGenerator, model_spec: S.ModelSpec) -> None:
    column.selectbox("Load a preset network", preset_names(), index=None,
                     placeholder=f"{model_spec.name} (choose a preset)",
                     format_func=lambda name: load_preset(name).name, key="build_preset",
                     on_change=_preset_chosen)


def _preset_chosen() -> None:
    name = st.session_state.get("build_preset")
    if name:
        state.commit(load_preset(name))
        st.session_state["build_preset"] = None


def open_shared_lesson() -> None:
    """Apply a `lesson` in the URL once per session (called by app.py for every page)."""
    value = st.query_params.get(share.PARAM)
    if not value or value == st.session_state.get(APPLIED_KEY):
        return
    st.session_state[APPLIED_KEY] = value
    try:
        lesson = share.decode(value)
    except S.SpecError as error:
        state.message("error", f"The shared link could not be opened: "
                               f"{plain(in_page_words(str(error)))}")
        return
    state.commit(lesson)
    state.message("success", f"Opened the shared lesson **{plain(lesson.name)}**.")


def sync_url(valid_spec: S.ModelSpec) -> None:
    """Keep the address bar a share link of the valid network, as TensorFlow Playground does."""
    value = share.encode(valid_spec)
    if st.query_params.get(share.PARAM) != value:
        st.query_params[share.PARAM] = value
    st.session_state[APPLIED_KEY] = value


def share_and_export(valid_spec: S.ModelSpec, analysis: M.Analysis | None,
                     invalid: bool) -> None:
    """The share link, the downloads (lesson, code, weights) and the lesson upload."""
    st.subheader("Share and export")
    if invalid:
        st.caption("The network being edited cannot work yet, so links and files below hold "
                   "the last valid network.")
    # Made while presenting, the link opens presenting: the class sees what the teacher saw.
    shown_as = {session.PRESENT_PARAM: "1"} if session.presenting() else None
    url = share.share_url(_app_url(), valid_spec, extra=shown_as)
    st.markdown("**Share link**: opens this network with its lesson settings (dataset, "
                "training settings, seed, hidden panels).")
    st.code(url, language=None, wrap_lines=True)
    columns = st.columns(4)
    columns[0].download_button("Download lesson (.json)", share.to_file_bytes(valid_spec),
                               file_name=share.file_name(valid_spec),
                               mime="application/json", icon=":material/download:",
                               key="download-lesson", width="stretch")
    if analysis is not None:
        columns[1].download_button("Download PyTorch code (.py)",
                                   M.export_python(valid_spec, analysis),
                                   file_name=share.file_name(valid_spec, ".py"),
                                   mime="text/x-python", icon=":material/code:",
                                   key="download-python", width="stretch")
    run_id = _weights_download(columns[2], valid_spec)
    columns[3].file_uploader(
        "Open a lesson or spec (.json)", type=["json"], max_upload_size=10,
        key=f"upload-{st.session_state.get(UPLOADS_KEY, 0)}", on_change=_uploaded,
        help="Up to 10 MB; checked like any spec before it replaces the network")
    if run_id is not None:
        _open_format_downloads(run_id)


def _open_format_downloads(run_id: str) -> None:
    """The run's weights as .safetensors, the trained network as ONNX, and the PyTorch code
    with its weights: each made when its button is pressed (ONNX takes seconds)."""
    run = runs.executor().status(run_id)
    columns = st.columns(4)
    weights = lambda: runs.executor().latest_weights(run_id)[1]  # noqa: E731 (read on click)
    columns[0].download_button(
        "Weights (.safetensors)", lambda: checkpoint.to_safetensors(weights()),
        file_name=share.file_name(run.spec, ".safetensors"),
        mime="application/octet-stream", icon=":material/download:",
        key="download-safetensors", width="stretch",
        help="The same weights in a format that cannot carry code (the safetensors package)")
    columns[1].download_button(
        "Network as ONNX (.onnx)", lambda: exports.onnx_bytes(run.spec, weights()),
        file_name=share.file_name(run.spec, ".onnx"), mime="application/octet-stream",
        icon=":material/hub:", key="download-onnx", width="stretch",
        help="The trained network for ONNX Runtime, Netron and other tools (opset 18); it "
             "takes normalised images [batch, C, H, W] and gives logits")
    columns[2].download_button(
        "PyTorch code + weights (.zip)", lambda: exports.code_bundle(run.spec, weights()),
        file_name=share.file_name(run.spec, ".zip"), mime="application/zip",
        icon=":material/folder_zip:", key="download-bundle", width="stretch",
        help="The .py file of this network and its .safetensors weights; running the .py "
             "loads them")


def _weights_download(column: DeltaGenerator, valid_spec: S.ModelSpec) -> str | None:
    """The .pt download of this session's own run; its id, or None when there is none
    (a watcher never downloads another browser's weights)."""
    run_id = runs.current_run_id()
    run = runs.executor().status(run_id) if run_id else None
    if runs.is_watched(run):
        column.caption("The run you are watching was started in another browser: only "
                       "that browser can download its weights.")
        return None
    elif run is not None:
        column.download_button(
            "Download trained weights (.pt)",
            lambda: checkpoint.to_bytes(runs.executor().latest_weights(run_id)[1]),
            file_name=share.file_name(run.spec, ".pt"),
            mime="application/octet-stream", icon=":material/neurology:",
            key="download-weights", width="stretch",
            help=f"The state_dict of run #{run.number} ({plain(run.spec.name)}), loadable with "
                 "the .py file of that network")
        if run.spec != valid_spec:
            column.caption(f"Weights of run #{run.number}, which trains "
                           f"**{plain(run.spec.name)}** as it was when the run started.")
        return run_id
    column.caption("Train the network to download its weights (.pt, .safetensors, ONNX) "
                   "here.")
    return None


def _uploaded() -> None:
    key = f"upload-{st.session_state.get(UPLOADS_KEY, 0)}"
    upload = st.session_state.get(key)
    st.session_state[UPLOADS_KEY] = st.session_state.get(UPLOADS_KEY, 0) + 1
    if upload is None:
        return
    try:
        lesson = share.from_file_bytes(upload.getvalue())
    except S.SpecError as error:
        state.message("error", f"**{plain(upload.name)}** was not opened: "
                               f"{plain(in_page_words(str(error)))}")
        return
    state.commit(lesson)
    state.message("success", f"Opened **{plain(lesson.name)}** from {plain(upload.name)}.")


def _app_url() -> str | None:
    try:
        return st.context.url or None
    except Exception:  # no browser context (headless tests)
        return None
