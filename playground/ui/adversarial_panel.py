"""Inspect panel "Adversarial noise": FGSM and PGD on the probe, the noise and its
spectrum, and the accuracy of the weights shown against epsilon."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from playground.analysis import adversarial as AD
from playground.analysis import spectra as SP
from playground.analysis.feature_space import fixed_subset
from playground.analysis.time_box import TimeBox
from playground.data.datasets import Dataset
from playground.figures import inspection as IF
from playground.figures import seeing as SF
from playground.model import build as M
from playground.runs import RunStatus
from playground.ui import session
from playground.ui.lesson_link import lesson_link
from playground.ui.panel_work import per_snapshot, progress_bar
from playground.ui.text import for_chart

if TYPE_CHECKING:
    from playground.ui.inspect_page import Probe, View

CURVE_SECONDS = 15.0    # the accuracy curve's time box
CURVE_KEY = "insp_adv_curve"


def render(run: RunStatus, view: "View", probe: "Probe", data: Dataset,
           analysis: M.Analysis, running: bool) -> None:
    st.caption("Tiny changes to every pixel, each at most ε, chosen along the loss "
               "gradient to change the network's mind: invisible noise, a different answer.")
    columns = st.columns([2, 4])
    method = columns[0].radio("Attack", AD.METHODS, horizontal=True, key="insp_adv_method",
                              help=f"FGSM: one step of ε along the gradient's sign. PGD: "
                                   f"{AD.PGD_STEPS} smaller steps, kept within ε.")
    epsilon = columns[1].slider("ε (pixel units of the [0, 1] image)", 0.0, 0.3, 0.05,
                                0.005, format="%.3f", key="insp_adv_epsilon")
    classes = [for_chart(name) for name in data.classes]

    def compute() -> AD.Attack:
        return AD.attack_probe(view.network, probe.tensor, data.mean, data.std, epsilon,
                               method, probe.true_class)

    key = (run.run_id, view.step, view.live, probe.key, method, epsilon)
    found, _ = per_snapshot("adversarial", key, compute, running and view.live, AD.LIVE_EVERY)
    style = session.figure_style()
    before, after = int(found.before.argmax()), int(found.after.argmax())
    verdict = "unchanged" if before == after else f"now “{classes[after]}”"
    st.plotly_chart(SF.adversarial_images(
        found.image, found.perturbation, found.adversarial, epsilon,
        ("probe", f"noise × {0.5 / epsilon:.0f} (grey = 0)" if epsilon else "no noise",
         "probe + noise"),
        f"{method}, ε = {epsilon:.3f}: “{classes[before]}” → {verdict} "
        f"(step {view.step:,})", style=style), width="stretch", key="insp_adv_images",
        config={"displayModeBar": False})
    left, right = st.columns(2)
    for column, probs, name in ((left, found.before, "Before"), (right, found.after, "After")):
        with column:
            best = int(probs.argmax())
            st.plotly_chart(IF.probabilities(probs, classes, probe.true_class,
                                             title=f"{name}: {classes[best]} "
                                                   f"({probs[best]:.0%})",
                                             height=300, style=style),
                            width="stretch", key=f"insp_adv_probs_{name}",
                            config={"displayModeBar": False})
    _spectra(found, style)
    _curve(run, view, data, analysis, method, style)


def _spectra(found: AD.Attack, style) -> None:
    image = found.image.mean(axis=2)
    noise = found.perturbation.mean(axis=2)
    spectra = [np.maximum(SP.centred_magnitude(z - z.mean(), db=True), -40.0)
               for z in (image, noise)]
    shares = [AD.high_frequency_share(z) for z in (image, noise)]
    st.plotly_chart(SF.spectra_pair(*spectra, (
        f"|FFT| of the probe: {shares[0]:.0%} high", f"|FFT| of the noise: {shares[1]:.0%} "
                                                     "high"),
        "The noise lives at high frequencies, where the image has little",
        style=style), width="stretch", key="insp_adv_spectra",
        config={"displayModeBar": False})
    st.caption("“High”: the share of the power above half the highest frequency (DC in "
               "the middle, the finest patterns at the edges).")
    lesson_link("frequency")


def _curve(run: RunStatus, view: "View", data: Dataset, analysis: M.Analysis, method: str,
           style) -> None:
    count = min(AD.CURVE_IMAGES, len(data.test_y))
    key = (run.run_id, view.step, view.live, method)
    if st.button(f"Measure accuracy against ε ({count} test images, {method})",
                 key="insp_adv_measure"):
        subset = fixed_subset(data.test_y, count)
        report, done = progress_bar(f"Attacking {count} test images "
                                    f"(at most {CURVE_SECONDS:.0f} s)")
        curve = AD.accuracy_against_epsilon(view.network, data.test_x[subset],
                                            data.test_y[subset], data.mean, data.std,
                                            method, M.images_per_pass(analysis),
                                            TimeBox(CURVE_SECONDS, progress=report))
        done()
        st.session_state[CURVE_KEY] = (key, curve)
    stored = st.session_state.get(CURVE_KEY)
    if stored is None:
        return
    (_, step, _, measured_method), curve = stored
    st.plotly_chart(SF.robustness_curve(curve.epsilons, curve.accuracy,
                                        f"{measured_method} accuracy against ε at step "
                                        f"{step:,} ({curve.images} test images)",
                                        style=style),
                    width="stretch", key="insp_adv_curve")
    if not curve.finished:
        st.caption(f"Time limit ({CURVE_SECONDS:.0f} s) reached: the largest ε values "
                   "were not measured.")
