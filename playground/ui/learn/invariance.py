"""Learn page, What a CNN does not handle for free: rotation and scale, and data augmentation.

The numbers come from `playground.lessons.invariance`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import streamlit as st

from playground.figures.lessons.grids import heatmaps
from playground.figures.lessons.invariance import probe_confidence, probe_strip, robustness
from playground.lessons import invariance as lesson_numbers
from playground.lessons import lesson
from playground.lessons.invariance import (AugmentRange, PROBE_ANGLES,
                                           PROBE_SCALES, ROBUST_POOL, SHIFTS, TrainedProbe,
                                           probe_sweep, train_robust_pair, warp, warp_matrix)
from playground.lessons.samples import sample_digit
from playground.ui import session
from playground.ui.learn.widgets import chart, open_on_build

LESSON = lesson("invariance")
POOLING_LESSON = lesson("pooling")


TRAIN_COUNT, EPOCHS = 4000, 2   # monkeypatched smaller by the page tests


@st.cache_resource(show_spinner=False)
def _robust_pair(train_count: int, epochs: int) -> list[TrainedProbe]:
    return train_robust_pair(train_count, epochs)


def render() -> None:
    st.header("What a CNN does not handle for free")
    augment = AugmentRange()
    st.markdown("A conv layer uses the same kernel everywhere, so a **shifted** digit gives "
                "shifted features, and pooling forgives small shifts. Nothing in the "
                "architecture does that for a **rotated** or **rescaled** digit: the kernels "
                "see new patterns. We rotate and rescale digits with OpenCV and watch a trained "
                "model; then we train the same model with **data augmentation** (every "
                f"training digit randomly rotated by up to ±{augment.degrees:g}°, scaled by "
                f"{augment.scale_low:g}–{augment.scale_high:g} and moved by up to "
                f"±{augment.shift:g} px).")
    controls, view = st.columns([1, 3])
    with controls:
        digit = st.selectbox("Probe digit", list(range(10)), index=3, key="learn2_r_digit")
        kind = st.radio("Transformation", ("rotation", "scale", "translation"),
                        key="learn2_r_kind")
        angle = st.slider("Angle θ (degrees)", -180, 180, 45, step=15, key="learn2_r_angle")
        scale = st.slider("Scale s", 0.5, 1.5, 1.0, step=0.1, key="learn2_r_scale")
    image = sample_digit(int(digit))
    matrix = warp_matrix(*image.shape, angle=float(angle), scale=float(scale))
    values = {"rotation": list(PROBE_ANGLES), "scale": list(PROBE_SCALES),
              "translation": list(SHIFTS)}[kind]
    unit = {"rotation": "°", "scale": "x", "translation": " px"}[kind]
    sweep_kind = {"rotation": "angle", "scale": "scale", "translation": "shift"}[kind]
    with view:
        chart(heatmaps([image, warp(image, angle=angle, scale=scale)],
                       ["probe digit", f"cv2.warpAffine: θ = {angle}°, s = {scale:.1f}"],
                       [False, False], height=300, style=session.figure_style()))
        st.latex(r"M = \begin{bmatrix} s\cos\theta & s\sin\theta & t_x \\ -s\sin\theta & "
                 r"s\cos\theta & t_y\end{bmatrix} = \begin{bmatrix}"
                 + rf"{matrix[0, 0]:.2f} & {matrix[0, 1]:.2f} & {matrix[0, 2]:.2f} \\ "
                 + rf"{matrix[1, 0]:.2f} & {matrix[1, 1]:.2f} & {matrix[1, 2]:.2f}"
                 + r"\end{bmatrix}")
    st.subheader("Trained models under rotation, scale and translation")
    st.markdown(f"Lesson {POOLING_LESSON.number}'s network (conv 5x5 + ReLU + max pool "
                f"{ROBUST_POOL}x"
                f"{ROBUST_POOL} + linear), trained on {TRAIN_COUNT:,} real MNIST digits for "
                f"{EPOCHS} epochs, without and with augmentation, then tested on "
                f"{lesson_numbers.CURVE_DIGITS} held-out digits transformed in steps.")
    if st.button("Train both models and measure (about a minute on a laptop CPU)",
                 key="learn2_r_train"):
        st.session_state["learn2_r_trained"] = True
    if not st.session_state.get("learn2_r_trained"):
        st.info("Press the button to train the two models; they are then kept for every "
                "session of this server.")
    else:
        with st.spinner("Training two small models on the CPU..."):
            pair = _robust_pair(TRAIN_COUNT, EPOCHS)
        plain, augmented = pair
        chart(robustness([p.curves for p in pair],
                         title="Test accuracy against the transformation",
                         style=session.figure_style()))
        at_angle = {p.name: dict(zip(p.curves.angles, p.curves.angle_accuracy)) for p in pair}
        at_scale = {p.name: dict(zip(p.curves.scales, p.curves.scale_accuracy)) for p in pair}
        at_shift = {p.name: dict(zip(p.curves.shifts, p.curves.shift_accuracy)) for p in pair}
        rows = [(name, at_angle[name][0], at_angle[name][30], at_angle[name][90],
                 at_angle[name][180], at_scale[name][0.7], at_shift[name][3])
                for name in (plain.name, augmented.name)]
        st.latex(r"\begin{array}{lcccccc} & 0^\circ & 30^\circ & 90^\circ & 180^\circ & "
                 r"s = 0.7 & 3\text{ px} \\ \hline "
                 + r" \\ ".join(rf"\text{{{name}}} & " + " & ".join(
                     f"{v * 100:.0f}\\%" for v in vals) for name, *vals in rows)
                 + r"\end{array}")
        st.markdown("Augmentation raises the curves **inside and near the range it was "
                    f"trained on** (±{augment.degrees:g}°, {augment.scale_low:g}–"
                    f"{augment.scale_high:g}x, ±{augment.shift:g} px); far outside it (compare "
                    "the 90° column) it does not help, and at 180° a 6 and a 9 swap meaning, so "
                    "no model should be invariant there. Even translation is only partly free "
                    "here: this network ends in a linear layer that sees positions, so a few "
                    "pixels cost it accuracy. Invariance beyond that has to be learned from "
                    "data, or built in by a different architecture.")
        sweeps = {p.name: probe_sweep(p.network, image, int(digit), sweep_kind, values)
                  for p in pair}
        chart(probe_confidence(sweeps, int(digit), {"rotation": "angle (degrees)",
                                                    "scale": "scale factor",
                                                    "translation": "shift (pixels right)"}
                               [kind], title=f"Probe digit {digit}: probability of the "
                                             f"true class and the predicted digit",
                               style=session.figure_style()))
        chart(probe_strip(sweeps[augmented.name], int(digit), unit,
                          title="The augmented model's predictions on the probe",
                          style=session.figure_style()))
    open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 5, "padding": 2},
                   {"type": "relu"}, {"type": "maxpool", "kernel_size": ROBUST_POOL}],
                  f"Lesson {LESSON.number}: augmentation",
                  f"Lesson {POOLING_LESSON.number}'s shift network: train it with and "
                  "without the Train page's augmentation (random shifts) and compare.",
                  "learn2_r_build")

