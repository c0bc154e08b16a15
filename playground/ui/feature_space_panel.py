"""Inspect panel "Feature space": the penultimate layer's features of a fixed set of test
images, projected to 2-D, following the run and the time machine; a click on a point
shows its image."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from playground.analysis import feature_space as FS
from playground.analysis import probe as P
from playground.data.datasets import Dataset
from playground.figures import inspection as IF
from playground.figures import seeing as SF
from playground.model import build as M
from playground.runs import RunStatus
from playground.ui import session
from playground.ui.panel_work import per_snapshot
from playground.ui.text import for_chart

if TYPE_CHECKING:
    from playground.ui.inspect_page import View

PREVIOUS_KEY = "insp_fs_previous"   # the coordinates drawn last, to align the next to
SELECTED_KEY = "insp_fs_selected"


def render(run: RunStatus, view: "View", data: Dataset, analysis: M.Analysis,
           running: bool) -> None:
    st.caption("Every dot is a test image, placed by what the network's last layer reads "
               "(its features, flattened to 2-D by PCA): as it learns, the classes pull "
               "apart. Crosses are mistakes; click a dot to see its image.")
    indices = session.cached("insp_fs_subset", run.run_id,
                             lambda: FS.fixed_subset(data.test_y))

    def project() -> FS.FeatureSpace:
        previous = st.session_state.get(PREVIOUS_KEY)
        return FS.feature_space(view.network, data.test_x, data.test_y, indices,
                                M.images_per_pass(analysis), previous=previous)

    if not FS.has_linear_layer(view.network):
        st.info("The feature space is what the last linear layer reads, and this network "
                "has none (its global average pooling gives the class scores directly).")
        return
    space, key = per_snapshot("feature_space", (run.run_id, view.step, view.live), project,
                              running and view.live, FS.LIVE_EVERY)
    st.session_state[PREVIOUS_KEY] = space.coordinates
    classes = [for_chart(name) for name in data.classes]
    selected = st.session_state.get(SELECTED_KEY)
    accuracy = float((space.predictions == space.labels).mean())
    title = (f"Feature space at step {key[1]:,}: class separation {space.separation:.2f}, "
             f"{accuracy:.0%} right")
    left, right = st.columns([3, 1])
    with left:
        event = st.plotly_chart(
            SF.feature_scatter(space.coordinates, space.labels, space.predictions,
                               space.indices, classes, space.explained, selected, title,
                               style=session.figure_style()),
            width="stretch", key="insp_fs_scatter", on_select="rerun",
            selection_mode=("points", "box"))
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    picked = _picked_index(points)
    if picked is not None:
        selected = picked
        st.session_state[SELECTED_KEY] = selected
    with right:
        _selected_image(data, space, classes, selected)
    st.caption("Class separation: the spread between class centres over the spread "
               "within classes, on the full features (higher = classes further apart). "
               "The axes are turned to match the last drawing, so the points move "
               "instead of jumping.")


def _picked_index(points: list[dict]) -> int | None:
    """The test index of the first selected dot (its customdata), if any."""
    for point in points:
        value = point.get("customdata")
        if isinstance(value, (int, float)):
            return int(value)
    return None


def _selected_image(data: Dataset, space: FS.FeatureSpace, classes: list[str],
                    selected: int | None) -> None:
    if selected is None or selected not in set(space.indices.tolist()):
        st.info("Click a dot to see its test image.")
        return
    at = int(np.flatnonzero(space.indices == selected)[0])
    label, predicted = int(space.labels[at]), int(space.predictions[at])
    image = P.to_display(data.test_x[selected].float(), data.mean, data.std)
    verdict = "✓" if label == predicted else f"✗ (it is {classes[label]})"
    st.plotly_chart(IF.probe_image(image, f"Test image {selected:,}: “{classes[predicted]}” "
                                          f"{verdict}", height=300,
                                   style=session.figure_style()),
                    width="stretch", key="insp_fs_image", config={"displayModeBar": False})
