"""Learn page, Cross-correlation vs convolution: the flipped kernel.

The numbers come from `playground.lessons.correlation`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import streamlit as st

from playground.figures.lessons.grids import heatmaps
from playground.lessons import lesson
from playground.lessons.correlation import correlation_vs_convolution
from playground.lessons.samples import sample_gray
from playground.ui import session
from playground.ui.learn.widgets import chart, kernel_editor, open_on_build

LESSON = lesson("correlation")


def render() -> None:
    st.header("Cross-correlation vs convolution")
    st.markdown("Mathematicians' **convolution** flips the kernel by 180° before sliding it; "
                "**cross-correlation** does not. Deep-learning libraries (PyTorch's `conv2d` "
                "too) compute cross-correlation and still call it convolution: the kernel is "
                "learned, so a flipped kernel is learned just as well, and skipping the flip "
                "is simpler.")
    st.latex(r"\text{correlation: } y_{i,j} = \sum_{u,v} x_{i+u,\,j+v}\, w_{u,v}"
             r"\qquad \text{convolution: } y_{i,j} = \sum_{u,v} x_{i+u,\,j+v}\,"
             r" w_{K-1-u,\,K-1-v}")
    left, right = st.columns([1, 3])
    with left:
        kernel = kernel_editor("emboss", "learn_x")
    result = correlation_vs_convolution(sample_gray(48), kernel)
    with right:
        chart(heatmaps([kernel, result.flipped], ["kernel w", "w rotated by 180°"],
                       [True, True], height=300, style=session.figure_style()))
    chart(heatmaps([result.correlation, result.convolution,
                    result.correlation - result.convolution],
                   ["cross-correlation (conv2d)", "convolution (flipped kernel)",
                    "difference"], [True, True, True], height=400, style=session.figure_style()))
    verdict = ("symmetric under a 180° turn, so both give the same output"
               if result.symmetric else "not symmetric, so the outputs differ")
    st.markdown(f"This kernel is **{verdict}**: the largest difference is "
                f"**{result.max_difference:.4f}**.")
    open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 3},
                   {"type": "relu"}, {"type": "maxpool", "kernel_size": 2}],
                  f"Lesson {LESSON.number}: learned kernels",
                  "Train it and look at the learned kernels on the Inspect page: whether they "
                  "are flipped does not matter.",
                  "learn_x_build")

