"""Widgets the lessons share: a chart, a kernel editor, and buttons that open a network on
another page."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from playground import spec as S
from playground.lessons.kernels import KERNEL_PRESETS, kernel_preset
from playground.ui import session

BUILD_LABEL = "Open this network on the Build page"


def chart(figure) -> None:
    """A plotly figure across the page's width, without plotly's toolbar."""
    st.plotly_chart(figure, width="stretch", config={"displayModeBar": False})


def open_spec(model_spec: S.ModelSpec, label: str, key: str, page: str = "train") -> None:
    """A button that loads `model_spec` into the session and opens the Train (or Build)
    page; loading goes on the Build page's undo stack like any other replacement."""
    from playground.ui.pages import PAGES  # the page list imports the lessons' modules

    icon = next(app_page.icon for app_page in PAGES if app_page.url_path == page)
    if st.button(label, key=key, icon=icon):
        session.set_spec(model_spec)
        from playground.ui.build import page as build_page  # they import the lessons' modules
        from playground.ui import train_page

        render_page = train_page.render if page == "train" else build_page.render
        try:
            st.switch_page(st.Page(render_page, title=page.title(), url_path=page))
        except st.errors.StreamlitAPIException:  # outside the app's navigation (tests)
            st.page_link(f"/{page}", label=f"Go to the {page.title()} page")


def open_on_build(layers: list[dict], name: str, description: str, key: str,
                  input_shape: tuple[int, int, int] = (1, 28, 28),
                  dataset: str = "mnist") -> None:
    """The lesson's network (its layers), below a divider, opened on the Build page."""
    st.divider()
    open_spec(S.parse_spec({
        "version": 1, "name": name, "description": description,
        "input": list(input_shape), "num_classes": 10, "layers": layers,
        "training": {"dataset": dataset, "epochs": 1}}), BUILD_LABEL, key, page="build")


def kernel_editor(default: str, key: str, presets: tuple[str, ...] | None = None) -> np.ndarray:
    """A preset picker and the 3x3 kernel as an editable table (reset by the picker)."""
    names = presets or tuple(KERNEL_PRESETS)
    preset = st.selectbox("Kernel", names, index=names.index(default), key=f"{key}_preset")
    table = pd.DataFrame(np.round(kernel_preset(preset), 3),
                         columns=[f"c{c}" for c in range(3)])
    edited = st.data_editor(table, key=f"{key}_grid_{preset}", hide_index=True,
                            width="stretch")
    return edited.to_numpy(dtype=np.float64)
