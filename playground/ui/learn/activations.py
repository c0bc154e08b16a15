"""Learn page, Activation functions, and why two stacked convolutions need one in between.

The numbers come from `playground.lessons.activations`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import numpy as np
import streamlit as st

from playground.figures.lessons.activations import activation_curves
from playground.figures.lessons.grids import heatmaps
from playground.lessons import lesson
from playground.lessons.activations import (ACTIVATIONS, ACTIVATION_FORMULAS, activate,
                                            activation_curve, stacked_vs_single)
from playground.lessons.convolution import conv_reference
from playground.lessons.kernels import kernel_preset
from playground.lessons.latex import sci_latex
from playground.lessons.samples import sample_digit
from playground.ui import session
from playground.ui.learn.widgets import chart, open_on_build

LESSON = lesson("activations")


def render() -> None:
    st.header("Activation functions")
    st.markdown("After each convolution comes a **nonlinearity**. Without it, two stacked "
                "convolutions are still one linear map: exactly one bigger convolution.")
    left, right = st.columns([1, 3])
    with left:
        name = st.radio("Activation", tuple(ACTIVATIONS), key="learn_a_name")
        st.latex(ACTIVATION_FORMULAS[name])
    features = conv_reference(sample_digit(3), kernel_preset("Sobel x"))
    with right:
        chart(activation_curves({n: activation_curve(n) for n in ACTIVATIONS},
                                title="The curves and their derivatives",
                                style=session.figure_style()))
    activated = activate(name, features)
    chart(heatmaps([features, activated], ["feature map (digit ⋆ Sobel x)",
                                           f"after {name}"], [True, True], height=380,
                   style=session.figure_style()))
    st.caption(f"Negative values before: {int((features < 0).sum())}; after {name}: "
               f"{int((activated < 0).sum())}.")
    st.subheader("Two 3x3 convolutions = one 5x5 convolution")
    seed = st.number_input("random kernels, seed", 0, 999, 0, key="learn_a_seed")
    generator = np.random.default_rng(int(seed))
    k1, k2 = np.round(generator.normal(size=(2, 3, 3)), 2)
    stack = stacked_vs_single(sample_digit(3), k1, k2, name)
    chart(heatmaps([k1, k2, stack.composed], ["kernel 1 (3x3)", "kernel 2 (3x3)",
                                              "composed kernel (5x5)"],
                   [True, True, True], height=360, style=session.figure_style()))
    st.latex(rf"(x \star w_1) \star w_2 = x \star (w_1 * w_2):\quad \max|\text{{stacked}} - "
             rf"\text{{single}}| = {sci_latex(stack.max_error)}")
    st.markdown(f"With {name} between the two convolutions the result differs from the 5x5 "
                f"convolution by up to **{stack.activation_gap:.3f}**: no single kernel can do "
                "that, so depth adds power only with nonlinearities.")
    layer = {"ReLU": "relu", "leaky ReLU": "leaky_relu", "sigmoid": "sigmoid", "tanh": "tanh",
             "GELU": "gelu"}[name]
    open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 3}, {"type": layer},
                   {"type": "conv", "out_channels": 8, "kernel_size": 3}, {"type": layer},
                   {"type": "maxpool", "kernel_size": 2}],
                  f"Lesson {LESSON.number}: {name}",
                  "Two 3x3 convs with the chosen activation between.",
                  "learn_a_build")

