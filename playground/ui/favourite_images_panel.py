"""Inspect panel "Favourite images": what each filter (or class) wants to see, found by
gradient ascent on the weights shown (live or from the time machine)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from playground.analysis import feature_visualisation as FV
from playground.analysis import network as I
from playground.analysis.time_box import TimeBox
from playground.data.datasets import Dataset
from playground.figures import seeing as SF
from playground.model import build as M
from playground.runs import RunStatus
from playground.ui import session
from playground.ui.lesson_link import lesson_link
from playground.ui.panel_work import per_snapshot, progress_bar
from playground.ui.text import for_chart

if TYPE_CHECKING:
    from playground.ui.inspect_page import View

CLASSES = "classes"
SPECTRA_SHOWN = 3


def render(run: RunStatus, view: "View", data: Dataset, analysis: M.Analysis,
           running: bool) -> None:
    st.caption("Each tile is the input that one filter (or one class) responds to most, "
               "grown by gradient ascent from faint noise: first layers want edges at "
               "their kernel's angle, deeper layers textures and parts.")
    units = I.conv_units(view.network)
    labels = {unit.name: unit.label for unit in units}
    labels[CLASSES] = "the output classes"
    if st.session_state.get("insp_fav_target") not in labels:
        st.session_state["insp_fav_target"] = next(iter(labels))
    target = st.selectbox("Favourite images of", list(labels), key="insp_fav_target",
                          format_func=lambda name: labels[name])
    unit = next((u for u in units if u.name == target), None)
    wanted = list(range(unit.out_channels if unit else len(data.classes)))
    seconds = FV.time_limit(tuple(run.spec.input))

    def ascend() -> FV.FavouriteImages:
        report, done = progress_bar(f"Gradient ascent (at most {seconds:.0f} s)")
        found = FV.favourite_images(view.network, tuple(run.spec.input), data.mean, data.std,
                                    unit.name if unit else None, wanted,
                                    M.images_per_pass(analysis), TimeBox(seconds,
                                                                        progress=report))
        done()
        return found

    found, key = per_snapshot("favourite", (run.run_id, view.step, view.live, target), ascend,
                              running and view.live, FV.LIVE_EVERY)
    names = ([f"channel {n}" for n in found.targets] if unit else
             [for_chart(data.classes[n]) for n in found.targets])
    what = _capital(unit.label) if unit else "Output classes"
    title = f"{what}: favourite images at step {key[1]:,}"
    st.plotly_chart(SF.image_grid(found.images, names, title, style=session.figure_style()),
                    width="stretch", key="insp_fav_grid")
    shown = (f" (channels 0–{FV.MAX_IMAGES - 1} of {len(wanted)})"
             if len(wanted) > FV.MAX_IMAGES else "")
    cut = "" if found.finished else " (time limit reached: the ascent was cut short)"
    st.caption(f"Mean activation from {found.start.mean():.3f} on the starting noise to "
               f"{found.final.mean():.3f}{shown}: {found.steps} steps in "
               f"{found.seconds:.1f} s{cut}. Jitter, a slight blur, clipping to [0, 1] and the "
               "data's mean brightness keep the images readable.")
    if unit is not None:
        _spectra(view, unit, found)


def _spectra(view: "View", unit: I.ConvUnit, found: FV.FavouriteImages) -> None:
    picks = FV.strongest(found, SPECTRA_SHOWN)
    rows = FV.favourite_spectra(found, view.state[unit.weight_key].numpy(), picks)
    summed = "" if unit.in_channels == 1 else f", summed over its {unit.in_channels} inputs"
    figure_rows = [(f"channel {row.target}: image {row.image_angle:.0f}°, kernel "
                    f"{row.kernel_angle:.0f}°", row.image, row.image_spectrum,
                    row.kernel_spectrum) for row in rows]
    st.plotly_chart(SF.image_spectra(figure_rows, "The strongest favourites in frequency, "
                                                  f"beside their kernel{summed}",
                                     style=session.figure_style()),
                    width="stretch", key="insp_fav_spectra")
    st.caption("Angles: the direction across which the pattern changes (0° = vertical "
               "stripes). A first layer's favourite usually matches its kernel's angle.")
    lesson_link("frequency")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
