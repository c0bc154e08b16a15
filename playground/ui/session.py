"""Per-browser-session state shared by all pages: the one network being worked on.

The spec is the single description of the network: the Build page edits it, the Train
page trains it, exports and share links serialize it.
"""
from __future__ import annotations

from typing import Callable, TypeVar

import streamlit as st

from playground import spec as S
from playground.figures.style import Style, style_for
from playground.presets import DEFAULT_PRESET, load_preset
from playground.ui.build.history import EditHistory

T = TypeVar("T")
SPEC_KEY = "spec"
# The network's undo/redo history, shown on the Build page: any page that replaces the
# network records it there, so loading a preset or a lesson's network can be undone.
HISTORY_KEY = "build_undo"
# Presentation mode lives in the address (?present=1), not in the spec: a share link made
# while presenting opens presenting, and a lesson file stays the same either way.
PRESENT_PARAM = "present"
# Streamlit's own text on a projector: at least 20 px for body text, tables, formulas
# (KaTeX), metrics, captions and widget labels. Plotly figures size their text through
# `figure_style()` instead.
PRESENTATION_CSS = """<style>
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
[data-testid="stMarkdownContainer"] td, [data-testid="stMarkdownContainer"] th,
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p,
[data-testid="stWidgetLabel"] p, [data-testid="stAlertContentInfo"] p,
[data-testid="stTable"] td, [data-testid="stTable"] th, .pg-table td, .pg-table th
  {font-size: 22px !important; line-height: 1.45;}
[data-testid="stMarkdownContainer"] .katex {font-size: 26px !important;}
[data-testid="stMetricLabel"] p {font-size: 22px !important;}
[data-testid="stMetricValue"], [data-testid="stMetricValue"] * {font-size: 40px !important;}
[data-testid="stMetricDelta"] {font-size: 22px !important;}
[data-testid="stTextInputRootElement"] input, [data-testid="stNumberInputContainer"] input,
[data-baseweb="select"] div, [data-testid="stExpander"] summary p
  {font-size: 20px !important;}
</style>"""


def current_spec() -> S.ModelSpec:
    if SPEC_KEY not in st.session_state:
        st.session_state[SPEC_KEY] = load_preset(DEFAULT_PRESET)
    return st.session_state[SPEC_KEY]


def edit_history() -> EditHistory[S.ModelSpec]:
    """This session's undo/redo history of the network."""
    return st.session_state.setdefault(HISTORY_KEY, EditHistory())


def set_spec(model_spec: S.ModelSpec, remember: bool = True) -> None:
    """Replace the network; with `remember` the previous one can be undone to."""
    previous = st.session_state.get(SPEC_KEY)
    if remember and previous is not None and previous != model_spec:
        edit_history().record(previous)
    st.session_state[SPEC_KEY] = model_spec


def visible_panels(panels: tuple[str, ...]) -> list[str]:
    """The panels a lesson shows: a teacher's lesson can hide some (training.hidden_panels)."""
    training = current_spec().training
    hidden = set(training.hidden_panels or []) if training else set()
    return [panel for panel in panels if panel not in hidden]


PRESENT_KEY = "presenting"   # the choice, kept where a page switch cannot drop it
PRESENT_TOGGLE_KEY = "present_toggle"


def presenting() -> bool:
    """Whether this browser session presents (the address carries ?present=1)."""
    return st.query_params.get(PRESENT_PARAM) == "1"


def keep_presenting_in_address() -> None:
    """Carry the choice across pages: a page switch in the navigation bar drops the
    address's query, so the session remembers ?present=1 and puts it back. Called by
    app.py before every page."""
    if presenting():
        st.session_state[PRESENT_KEY] = True
    elif st.session_state.get(PRESENT_KEY):
        st.query_params[PRESENT_PARAM] = "1"


def set_presenting(present: bool) -> None:
    st.session_state[PRESENT_KEY] = present
    if present:
        st.query_params[PRESENT_PARAM] = "1"
    elif PRESENT_PARAM in st.query_params:
        del st.query_params[PRESENT_PARAM]


def _presentation_toggled() -> None:
    set_presenting(bool(st.session_state[PRESENT_TOGGLE_KEY]))


# The switch sits in the top bar, left of Streamlit's menu, on every page: fixed there it
# takes no room in the page, so switching it moves nothing.
TOGGLE_CSS = """<style>
.st-key-presentation-switch {position: fixed; top: 0.85rem; right: 4rem; z-index: 999991;
  width: auto !important; background: white; padding: 0 0.4rem; border-radius: 0.5rem;}
</style>"""


def presentation_toggle() -> None:
    """The switch every page shows in the top bar."""
    st.session_state[PRESENT_TOGGLE_KEY] = presenting()
    st.html(TOGGLE_CSS)
    st.container(key="presentation-switch").toggle(
        "Presentation mode", key=PRESENT_TOGGLE_KEY, on_change=_presentation_toggled,
        help="Big text and thick lines for a projector; the address keeps it "
             "(?present=1), so a share link made now opens presenting too")


def inject_presentation_css() -> None:
    """Enlarge Streamlit's own text while presenting (app.py, once per page)."""
    if presenting():
        st.markdown(presentation_css(), unsafe_allow_html=True)


def figure_style() -> Style:
    """The figure style of this session: large text and thick lines while presenting."""
    return style_for(presenting())


def presentation_css() -> str:
    """The <style> block that enlarges Streamlit's own text while presenting; pages inject
    it with st.markdown(..., unsafe_allow_html=True)."""
    return PRESENTATION_CSS


def cached(name: str, version: object, compute: Callable[[], T]) -> T:
    """One value per name for this session, recomputed only when `version` changes: a
    figure that a live refresh would otherwise rebuild unchanged twice a second."""
    key = f"cache-{name}"
    entry = st.session_state.get(key)
    if entry is None or entry[0] != version:
        entry = (version, compute())
        st.session_state[key] = entry
    return entry[1]
