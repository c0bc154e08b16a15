"""Inspect panel "Attributions": which pixels the prediction rests on, by saliency,
integrated gradients and occlusion (Captum), beside Grad-CAM."""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from playground.analysis import attribution as AT
from playground.analysis import network as I
from playground.data.datasets import Dataset
from playground.figures import inspection as IF
from playground.figures import seeing as SF
from playground.model import build as M
from playground.runs import RunStatus
from playground.ui import session
from playground.ui.lesson_link import lesson_link
from playground.ui.panel_work import per_snapshot
from playground.ui.text import for_chart

if TYPE_CHECKING:
    from playground.ui.inspect_page import Probe, View



def render(run: RunStatus, view: "View", probe: "Probe", data: Dataset,
           analysis: M.Analysis, running: bool) -> None:
    st.caption("Four answers to “which pixels made the network say this?”, each measured "
               "differently.")
    classes = data.classes
    height = run.spec.input[1]
    columns = st.columns([3, 2, 2])
    choice = columns[0].selectbox("Explain class", [None, *range(len(classes))],
                                  key="insp_attr_class",
                                  format_func=lambda i: "the predicted class" if i is None
                                  else classes[i])
    patch = columns[1].slider("Occlusion patch (pixels)", 2, max(3, height // 2),
                              min(6, height // 4), key="insp_attr_patch")
    if st.session_state.get("insp_attr_stride", 1) > patch:
        st.session_state["insp_attr_stride"] = patch   # a smaller patch narrows the stride
    stride = columns[2].slider("Occlusion stride", 1, patch, min(2, patch),
                               key="insp_attr_stride")
    index = I.last_spatial_layer(analysis.layers)
    target = choice
    if target is None:
        target = int(st.session_state["insp_probs"].argmax())

    def compute():
        found = AT.attributions(view.network, probe.tensor, target, patch, stride,
                                M.images_per_pass(analysis))
        cam = I.grad_cam(view.network, probe.tensor, index, target)[0] if index is not None \
            else None
        return found, cam

    key = (run.run_id, view.step, view.live, probe.key, target, patch, stride)
    (found, cam), _ = per_snapshot("attribution", key, compute, running and view.live,
                                   AT.LIVE_EVERY)
    name = for_chart(classes[target])
    style = session.figure_style()
    check = found.completeness
    maps = [
        (SF.unsigned_map(probe.image, found.saliency, "Saliency", style=style),
         "How much a tiny change of each pixel would move the score (|gradient|)."),
        (SF.signed_map(probe.image, found.integrated, "Integrated gradients", "share",
                       style=style),
         f"Each pixel's share of the score's change from a mean-colour image: they sum to "
         f"{check.attribution_sum:.3f}, the change is {check.score_difference:.3f} (off by "
         f"{abs(check.delta):.1e}, allowed {check.tolerance:.1e}"
         f"{'' if check.holds else ': NOT complete, too few steps'})."),
        (SF.signed_map(probe.image, found.occlusion, f"Occlusion {patch}x{patch}",
                       "score drop", style=style),
         f"How much the score drops when a mean-colour {patch}x{patch} patch hides each "
         "place (red: the evidence is there)."),
    ]
    if cam is not None:
        maps.append((IF.grad_cam_overlay(probe.image, cam, f"Grad-CAM (layer {index})",
                                         style=style),
                     "Where the last feature maps raise the score, at their coarse "
                     "resolution."))
    st.markdown(f"**Explaining “{name}”** at step {view.step:,}")
    # two to a row: each map big enough to read from the back of a room
    for first in range(0, len(maps), 2):
        for column, (figure, caption), key_name in zip(
                st.columns(2), maps[first:first + 2], ("sal", "ig", "occ", "cam")[first:]):
            with column:
                st.plotly_chart(figure, width="stretch", key=f"insp_attr_{key_name}",
                                config={"displayModeBar": False})
                st.caption(caption)
    lesson_link("receptive_fields")
