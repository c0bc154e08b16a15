"""Learn page, Pooling and shifts: fixed kernels, then small trained models.

The numbers come from `playground.lessons.pooling`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import numpy as np
import streamlit as st

from playground.figures.lessons.grids import heatmaps
from playground.figures.lessons.pooling import model_shift_curves, shift_curves
from playground.lessons import lesson
from playground.lessons.activations import activate
from playground.lessons.convolution import conv_reference
from playground.lessons.kernels import kernel_preset
from playground.lessons.pooling import (ModelShift, model_shift_experiment, pooled, shift,
                                        shift_experiment)
from playground.lessons.samples import sample_digit
from playground.ui import session
from playground.ui.learn.widgets import chart, open_on_build

LESSON = lesson("pooling")


def render() -> None:
    st.header("Pooling and translation invariance")
    st.markdown("**Max pooling** keeps the largest value of each window, **average pooling** "
                "its mean. A small shift of the input moves the feature map, but often leaves "
                "the pooled maps almost the same: pooling makes features less sensitive to "
                "exact positions.")
    left, right = st.columns([1, 3])
    with left:
        digit = st.selectbox("Digit", list(range(10)), index=3, key="learn_p_digit")
        pool = st.radio("Pool window", (2, 3, 4), index=2, horizontal=True, key="learn_p_pool")
        moved = st.slider("Shift the input (pixels)", 0, 6, 2, key="learn_p_shift")
    image = sample_digit(digit)
    kernels = np.stack([kernel_preset("Sobel x"), kernel_preset("Sobel y")])
    result = shift_experiment(image, kernels, pool, max_shift=6)
    features = activate("ReLU", conv_reference(image, kernels[0], padding=1))
    shifted = activate("ReLU", conv_reference(shift(image, moved), kernels[0], padding=1))
    compare = pooled(features, pool)
    compare_shift = pooled(shifted, pool)
    with right:
        chart(heatmaps([features, compare[0], compare[1]],
                       ["ReLU(digit ⋆ Sobel x)", f"max pool {pool}x{pool}",
                        f"avg pool {pool}x{pool}"], [False] * 3, height=330,
                       style=session.figure_style()))
        chart(heatmaps([shifted, compare_shift[0], compare_shift[1]],
                       [f"input shifted {moved} px", "max pool", "avg pool"], [False] * 3,
                       height=330, style=session.figure_style()))
    chart(shift_curves(result, title="How much the features change when the input shifts",
                       style=session.figure_style()))
    n = moved
    st.latex(rf"\text{{change}} = \frac{{\lVert f(\text{{shifted}}) - f(x)\rVert}}"
             rf"{{\lVert f(x)\rVert}}:\ \text{{no pool }} {result.change_conv[n]:.2f},\ "
             rf"\text{{max }} {result.change_max[n]:.2f},\ "
             rf"\text{{avg }} {result.change_avg[n]:.2f}")
    st.caption("Measured on both Sobel feature maps of a real MNIST digit. The pooled features "
               "change less for shifts smaller than the window; they are not fully invariant.")
    st.subheader("A trained model under shifts")
    st.markdown(f"Two small networks (conv 5x5 + ReLU, then max pooling {pool}x{pool} or no "
                "pooling, then a linear classifier) are trained on 4,000 real MNIST digits; "
                "then the 1,000 test digits are shifted and we count how often the "
                "prediction stays the same. Pooling alone does not guarantee invariance: "
                "a linear layer after it still sees positions.")
    if st.button("Train both and measure (a few seconds)", key="learn_p_train"):
        st.session_state["learn_p_models"] = pool
    if st.session_state.get("learn_p_models") == pool:
        with st.spinner("Training two small models on the CPU..."):
            results = [_trained_shift(pool), _trained_shift(1)]
        chart(model_shift_curves(results, title="Trained models under shifts: predictions "
                                                "and the classifier's input",
                                 style=session.figure_style()))
        pooled_model, plain = results
        st.latex(rf"\text{{same prediction after a 2-pixel shift: max pool }}"
                 rf"{pooled_model.unchanged[2]:.1%},\ \text{{no pooling }}"
                 rf"{plain.unchanged[2]:.1%}".replace("%", r"\%"))
        st.latex(rf"\text{{classifier input change after 2 pixels: max pool }}"
                 rf"{pooled_model.feature_change[2]:.2f},\ \text{{no pooling }}"
                 rf"{plain.feature_change[2]:.2f}")
        st.markdown(
            "The right panel is the direct measure of invariance: how much the features the "
            "final linear layer reads change. Pooling shrinks that change "
            f"({pooled_model.feature_change[2]:.2f} against {plain.feature_change[2]:.2f} "
            "after 2 pixels), but the predictions gain less, because both linear layers "
            "still weigh each position separately, and a shift as large as the pooling "
            "window moves the pooled map by a whole cell. Invariance to larger shifts comes "
            "from stacking pooling stages or a global average pool (the network below).")
    open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
                   {"type": "relu"}, {"type": "maxpool", "kernel_size": pool},
                   {"type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1},
                   {"type": "relu"}, {"type": "global_avgpool"}],
                  f"Lesson {LESSON.number}: pooling",
                  "Max pooling then global average pooling: a network that cares little where "
                  "the digit is.",
                  "learn_p_build")


@st.cache_resource(show_spinner=False)
def _trained_shift(pool: int) -> ModelShift:
    return model_shift_experiment(pool, max_shift=6)

