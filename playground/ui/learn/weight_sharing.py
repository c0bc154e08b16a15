"""Learn page, Local connection and weight sharing: a conv layer against a fully-connected one.

The numbers come from `playground.lessons.weight_sharing`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import streamlit as st

from playground.figures.lessons.weight_sharing import count_bars
from playground.lessons import lesson
from playground.lessons.weight_sharing import connection_counts, connection_latex
from playground.ui import session
from playground.ui.learn.widgets import chart, open_on_build

LESSON = lesson("weight_sharing")


def render() -> None:
    st.header("Local connection and weight sharing")
    st.markdown("A fully-connected layer links **every** input pixel to **every** output "
                "unit, each link with its own weight. A conv layer links each output only to "
                "the pixels under its kernel (**local connection**), and every position uses "
                "the same kernel (**weight sharing**).")
    cols = st.columns(6)
    size = cols[0].number_input("input size H = W", 2, 64, 8, key="learn_s_size")
    depth = cols[1].number_input("input channels", 1, 64, 1, key="learn_s_in")
    outs = cols[2].number_input("output channels", 1, 64, 1, key="learn_s_out")
    k = cols[3].number_input("kernel size", 1, 7, 3, step=2, key="learn_s_k")
    same = cols[4].toggle("same padding", True, key="learn_s_same")
    bias = cols[5].toggle("bias", False, key="learn_s_bias")
    if k > size + (k // 2) * 2 * same:
        st.error("The kernel is larger than the (padded) input.")
        return
    counts = connection_counts(size, size, depth, outs, k, padding=k // 2 if same else 0,
                               bias=bias)
    o, oh, ow = counts.out_shape
    a, b, c2, d = st.columns(4)
    a.metric("conv parameters", f"{counts.conv_params:,}")
    b.metric("fully-connected parameters", f"{counts.dense_params:,}")
    c2.metric("conv connections", f"{counts.conv_connections:,}")
    d.metric("fully-connected connections", f"{counts.dense_connections:,}")
    for formula in connection_latex(counts, bias):
        st.latex(formula)
    ratio = counts.dense_params / max(counts.conv_params, 1)
    st.markdown(f"Output {o}x{oh}x{ow}. The fully-connected layer needs **{ratio:,.0f}x** the "
                "parameters. Connections of the conv layer count only real pixels (not the "
                "zero padding) under each window.")
    chart(count_bars(["parameters", "connections"],
                     [counts.conv_params, counts.conv_connections],
                     [counts.dense_params, counts.dense_connections],
                     title="Conv layer vs fully-connected layer, same input and output",
                     style=session.figure_style()))
    open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
                   {"type": "relu"}, {"type": "maxpool", "kernel_size": 2},
                   {"type": "flatten"}, {"type": "linear", "out_features": 10}],
                  f"Lesson {LESSON.number}: conv vs dense",
                  "Compare the parameter counts of the conv and linear layers in the Build "
                  "page's summary.",
                  "learn_s_build")

