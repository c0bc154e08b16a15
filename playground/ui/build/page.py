"""Build page: a layer palette and stack, a live architecture table, a picture of the
network, and lessons that travel as a link or a file.

The page edits the session's spec (the one every page shares) and nothing else; the
network being edited, possibly an invalid draft, is `state.draft()`.
"""
from __future__ import annotations

import streamlit as st

from playground import spec as S
from playground.figures import diagram
from playground.ui import session
from playground.ui.build import editor, settings, share, state, table
from playground.ui.build.layer_labels import in_page_words, type_name
from playground.ui.text import plain
from playground.ui.build.share import open_shared_lesson  # app.py calls it on every page

__all__ = ["open_shared_lesson", "render"]

PAGE_CSS = '[data-testid="stMainBlockContainer"] {padding-top: 2.2rem;}\n'


def render() -> None:
    st.session_state.setdefault(state.VERSION_KEY, 0)
    model_spec = state.draft()
    analysis, error, _ = state.check(model_spec)
    valid_spec = session.current_spec()
    valid_analysis = analysis if error is None else state.check(valid_spec)[0]

    st.html(f"<style>\n{PAGE_CSS}{table.CSS}</style>")
    st.title("Build a CNN")
    _toolbar(model_spec)
    message = state.pop_message()
    if message:
        getattr(st, message[0])(message[1])
    if error is not None:
        st.error(_error_text(model_spec, error), icon=":material/block:")
    editor.drag_strip(model_spec)
    if valid_analysis is not None:
        st.plotly_chart(diagram.network_figure(
            valid_analysis, height=300,
            error_text=None if error is None else "showing the last valid network",
            style=session.figure_style()),
            width="stretch", key="diagram", config={"displayModeBar": False})
    left, right = st.columns([5, 7], gap="medium")
    with left:
        editor.palette(model_spec)
        editor.layer_stack(model_spec, error)
    with right:
        table.show(model_spec, analysis, error)
    settings.dataset_fit(model_spec)
    st.divider()
    settings.lesson_settings(model_spec)
    share.share_and_export(valid_spec, valid_analysis, error is not None)
    share.sync_url(valid_spec)


def _toolbar(model_spec: S.ModelSpec) -> None:
    """The preset picker, Undo and Redo, and the network's name and description."""
    history = session.edit_history()
    columns = st.columns([3.0, 1.05, 1.05, 4.4], vertical_alignment="bottom")
    share.preset_picker(columns[0], model_spec)
    columns[1].button("Undo", icon=":material/undo:", width="stretch", key="undo",
                      disabled=not history.can_undo(), on_click=state.undo,
                      help="Take back the last edit")
    columns[2].button("Redo", icon=":material/redo:", width="stretch", key="redo",
                      disabled=not history.can_redo(), on_click=state.redo,
                      help="Do the undone edit again")
    if model_spec.description:
        columns[3].caption(f"**{plain(model_spec.name)}**: {plain(model_spec.description)}")
    else:
        columns[3].caption(f"**{plain(model_spec.name)}**")


def _error_text(model_spec: S.ModelSpec, error: S.SpecError) -> str:
    if error.layer_index is None:
        where, reason = "The network", plain(in_page_words(str(error)))
    elif error.layer_index >= len(model_spec.layers):
        where = (f"The automatic classifier head (layer {error.layer_index}, "
                 f"{type_name(error.layer_type)})")
        reason = (f"{plain(in_page_words(error.reason))}; shrink the feature maps first "
                  "(pooling, strides or a global average pool)")
    else:
        where = f"Layer {error.layer_index} ({type_name(error.layer_type)})"
        reason = plain(in_page_words(error.reason))
    return (f"**{where} cannot work:** {reason}. Training keeps using the last valid network "
            "until this is fixed (or press Undo).")
