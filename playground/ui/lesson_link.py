"""Links from a panel to the Learn lesson that teaches the idea behind it: the Learn page
opens that lesson (`?lesson=<slug>`), in presentation mode when the session presents."""
from __future__ import annotations

import streamlit as st

from playground.lessons import lesson
from playground.ui import session

PARAM = "lesson"


def lesson_link(slug: str) -> None:
    target = lesson(slug)
    params = {PARAM: slug}
    if session.presenting():
        params[session.PRESENT_PARAM] = "1"
    from playground.ui.learn import page as learn_page  # the lessons' modules are heavy

    st.page_link(st.Page(learn_page.render, title="Learn", url_path="learn"),
                 label=f"Learn: lesson {target.label}", icon=":material/school:",
                 query_params=params)
