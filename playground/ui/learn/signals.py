"""Learn page, 1-D convolution as signal processing, and the 2-D box filter.

The numbers come from `playground.lessons.signals`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import numpy as np
import streamlit as st

from playground.figures.lessons.grids import heatmaps
from playground.figures.lessons.signals import signal_filter
from playground.lessons import lesson
from playground.lessons.samples import sample_gray
from playground.lessons.signals import (KERNELS_1D, SIGNALS, box_filter_2d, causal_convolution,
                                        convolution_terms_latex, cross_correlation_1d,
                                        kernel_1d, test_signal)
from playground.ui import session
from playground.ui.learn.widgets import chart, open_on_build

LESSON = lesson("signals")


def render() -> None:
    st.header("1-D convolution as signal processing")
    st.markdown("Convolution is older than neural networks: it is how signal processing "
                "filters a sequence. The output at time t is a weighted sum of the current "
                "and the previous samples. A **moving average** [1/K, ..., 1/K] smooths; the "
                "**second difference** [1, −2, 1] is a discrete second derivative: zero on "
                "straight lines, it fires on corners.")
    st.latex(r"y_t = \sum_{k=1}^{K} w_k\, x_{t-k+1} = w_1 x_t + w_2 x_{t-1} + \dots"
             r" + w_K x_{t-K+1}")
    controls, view = st.columns([1, 3])
    with controls:
        signal_name = st.radio("Signal", SIGNALS, key="learn2_s_signal")
        kernel_name = st.radio("Kernel", KERNELS_1D, key="learn2_s_kernel")
        taps = st.slider("Moving average taps K", 2, 15, 5, key="learn2_s_taps",
                         disabled=kernel_name != "moving average")
        noise = st.slider("Noise (noisy sine)", 0.0, 0.6, 0.25, step=0.05,
                          key="learn2_s_noise")
    x = test_signal(signal_name, noise=noise)
    kernel = kernel_1d(kernel_name, taps)
    y = causal_convolution(x, kernel)
    correlation = cross_correlation_1d(x, kernel)
    flipped = not np.allclose(kernel, kernel[::-1])
    with view:
        t = st.slider("Time t", 1, len(x), len(x) // 2 + 2, key="learn2_s_t")
        chart(signal_filter(x, y, kernel, t, correlation if flipped else None,
                            title=f"{signal_name} filtered by {kernel_name}",
                            style=session.figure_style()))
        st.latex(convolution_terms_latex(x, kernel, t))
    reference = np.convolve(x, kernel)[:len(x)]
    gap = float(np.abs(correlation - y).max())
    st.markdown(
        "PyTorch's `conv1d` computes a **cross-correlation** (no flip), so the blue curve is "
        "`conv1d` with the kernel **flipped**; it equals NumPy's `np.convolve` "
        + (f"to {error:.1e}. " if (error := float(np.abs(y - reference).max())) else
           "exactly. ")
        + (f"This kernel is not symmetric: `conv1d` without the flip (dotted) differs by up "
           f"to **{gap:.2f}**." if flipped else
           "This kernel is symmetric, so the flip changes nothing."))
    st.subheader("In 2-D: the box filter")
    left, right = st.columns([1, 3])
    with left:
        size = st.radio("Box size K", (3, 5, 7, 9), index=1, horizontal=True,
                        key="learn2_s_box")
    box = box_filter_2d(sample_gray(64), size)
    with right:
        st.latex(rf"y_{{i,j}} = \frac{{1}}{{K^2}}\sum_{{u,v}} x_{{i+u,\,j+v}},\quad K = {size}:"
                 rf"\ \text{{every weight}} = \tfrac{{1}}{{{size * size}}}")
    chart(heatmaps([box.image, box.rows, box.rows_then_columns, box.box],
                   ["photo", f"{size}-tap average along rows", "... then along columns",
                    f"one {size}x{size} box conv2d"], [False] * 4, height=360,
                   style=session.figure_style()))
    st.caption(f"The 2-D box kernel is the 1-D moving average applied along rows and then "
               f"columns (it is separable): max difference {box.separable_error:.1e}; OpenCV's "
               f"`cv2.blur` gives the same to {box.opencv_error:.1e}.")
    open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": size,
                    "padding": size // 2}, {"type": "relu"},
                   {"type": "maxpool", "kernel_size": 2}],
                  f"Lesson {LESSON.number}: a box-sized filter",
                  f"One conv layer with {size}x{size} "
                  "kernels: a box filter is one of the kernels it could learn.",
                  "learn2_s_build")

