"""Learn page, Receptive fields: computed per layer and measured by backprop.

The numbers come from `playground.lessons.receptive_fields`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from playground.figures.lessons.receptive_fields import receptive_growth, receptive_window
from playground.lessons import lesson
from playground.lessons.convolution import effective_kernel
from playground.lessons.receptive_fields import (measured_receptive_field, receptive_fields,
                                                 stack_params)
from playground.ui import session
from playground.ui.learn.widgets import chart, open_on_build

LESSON = lesson("receptive_fields")


def render() -> None:
    st.header("Receptive fields")
    st.markdown("The **receptive field** of an output pixel is the patch of the input it can "
                "see. Each layer adds (K_eff − 1) times the product of the strides before it.")
    st.latex(r"RF_l = RF_{l-1} + (K_\text{eff} - 1)\prod_{i<l} S_i,\quad "
             r"K_\text{eff} = K + (K-1)(D-1)")
    left, right = st.columns([1, 3])
    with left:
        depth = st.slider("Layers", 1, 6, 3, key="learn_r_layers")
        k = st.radio("Kernel size", (3, 5, 7), horizontal=True, key="learn_r_k")
        stride = st.radio("Stride of every layer", (1, 2), horizontal=True, key="learn_r_s")
        dilation = st.radio("Dilation", ("1", "2", "doubling (1, 2, 4, ...)"),
                            key="learn_r_d")
    dilations = ([2 ** n for n in range(depth)] if dilation.startswith("doubling")
                 else [int(dilation)] * depth)
    layers = [(k, stride, d) for d in dilations]
    rows = receptive_fields(layers)
    measured = measured_receptive_field(layers)
    with right:
        st.dataframe(pd.DataFrame([{"layer": r.name, "K": r.kernel, "S": r.stride,
                                    "D": r.dilation, "jump in": r.jump_in, "RF": r.rf}
                                   for r in rows]), hide_index=True, width="stretch")
        last = rows[-1]
        k_eff = effective_kernel(last.kernel, last.dilation)
        previous = rows[-2].rf if len(rows) > 1 else 1
        st.latex(rf"RF_{{{depth}}} = {previous} + ({k_eff} - 1)\cdot{last.jump_in} = {last.rf}"
                 rf"\quad(\text{{measured by backprop: }} {measured})")
    growth = {"your stack": rows,
              "plain 3x3": receptive_fields([(3, 1, 1)] * depth)}
    growth_column, window_column = st.columns([3, 2])
    with growth_column:
        chart(receptive_growth(growth, title="Receptive field per layer",
                               style=session.figure_style()))
    with window_column:
        chart(receptive_window(min(last.rf + 6, 64), min(last.rf, 64),
                               title=f"{last.rf}x{last.rf} input pixels",
                               style=session.figure_style()))
    channels = 64
    stacked, single = stack_params(depth, channels, 3), stack_params(1, channels,
                                                                     2 * depth + 1)
    st.markdown(f"**VGG's trick:** {depth} stacked 3x3 layers see "
                f"{2 * depth + 1}x{2 * depth + 1}, like one {2 * depth + 1}x{2 * depth + 1} "
                f"layer, with {stacked:,} instead of {single:,} weights at {channels} channels "
                "(and a nonlinearity after each).")
    open_on_build([item for (kk, s, d) in layers for item in
                   ({"type": "conv", "out_channels": 8, "kernel_size": kk, "stride": s,
                     "dilation": d, "padding": d * (kk // 2)}, {"type": "relu"})],
                  f"Lesson {LESSON.number}: receptive field",
                  "The lesson's stack: the Build page's summary shows each layer's receptive "
                  "field.",
                  "learn_r_build")

