"""Learn page, Transposed, fractionally-strided and dilated convolution.

The numbers come from `playground.lessons.transposed`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import numpy as np
import streamlit as st

from playground.figures.lessons.grids import grids
from playground.figures.lessons.transposed import overlap_map
from playground.lessons import lesson
from playground.lessons.kernels import kernel_preset
from playground.lessons.latex import sci_latex
from playground.lessons.samples import sample_gray
from playground.lessons.transposed import (dilated_kernel, interior, is_checkerboard,
                                           overlap_counts, transposed_convolution,
                                           transposed_size_latex)
from playground.ui import session
from playground.ui.learn.widgets import chart, open_on_build

LESSON = lesson("transposed")


def render() -> None:
    st.header("Transposed, fractionally-strided and dilated convolution")
    st.markdown("A strided convolution shrinks a map. A **transposed convolution** "
                "(`ConvTranspose2d`) grows one: every input pixel stamps a copy of the kernel, "
                "scaled by its value, into the output, S pixels apart, and overlaps add up. It "
                "equals inserting S−1 zeros between the inputs and running an ordinary "
                "convolution: a convolution with stride **1/S**.")
    controls, view = st.columns([1, 3])
    with controls:
        n = st.slider("Input size H", 2, 5, 3, key="learn2_t_n")
        k = st.slider("Kernel size K", 1, 5, 3, key="learn2_t_k")
        stride = st.slider("Stride S", 1, 3, 2, key="learn2_t_s")
        padding = st.slider("Padding P", 0, 2, 0, key="learn2_t_p")
        kind = st.radio("Kernel", ("random (seed 0)", "all ones"), key="learn2_t_kernel")
    image = np.arange(1.0, n * n + 1).reshape(n, n)   # 1, 2, 3...: each stamp is traceable
    kernel = (np.ones((k, k)) if kind == "all ones" else
              np.random.default_rng(0).integers(-2, 3, size=(k, k)).astype(np.float64))
    with view:
        if padding > k - 1:
            st.error(f"Padding P = {padding} is more than K − 1 = {k - 1}: a transposed "
                     "convolution would crop away more than the kernel adds. Lower P or "
                     "raise K.")
            st.latex(transposed_size_latex(n, k, stride, padding))
            return
        result = transposed_convolution(image, kernel, stride, padding)
        chart(grids([result.input, result.stretched, result.kernel[::-1, ::-1],
                     result.module_output],
                    [f"input {n}x{n}", f"zeros inserted (S−1 = {stride - 1}), "
                                       f"pad K−1−P = {k - 1 - padding}", "kernel rotated 180°",
                     f"ConvTranspose2d: {result.output_size}x{result.output_size}"],
                    [False, False, True, True], number_format=".0f", height=380,
                    widths=[0.17, 0.33, 0.17, 0.33], style=session.figure_style()))
        st.latex(transposed_size_latex(n, k, stride, padding))
        st.latex(r"\max\left|\text{ConvTranspose2d}(x) - \text{conv2d}"
                 r"(\text{zeros inserted}, \operatorname{rot}_{180} w)\right| = "
                 + sci_latex(result.max_error))
    st.subheader("The checkerboard")
    st.markdown("When K is not a multiple of S, some output pixels receive more kernel "
                "copies than their neighbours: even a constant input comes out striped. "
                "This is the checkerboard artefact of up-sampling networks; K divisible by S "
                "(or resize, then convolve) avoids it.")
    counts = overlap_counts(6, k, stride)
    middle = interior(counts, k)
    left, right = st.columns([3, 2])
    with left:
        chart(overlap_map(counts, title=f"Kernel copies per pixel: all-ones 6x6 input, "
                                        f"K = {k}, S = {stride}", style=session.figure_style()))
    with right:
        uneven = is_checkerboard(k, stride)
        verdict = (f"**Uneven:** {k} is not a multiple of {stride}; the interior receives "
                   f"between {int(middle.min())} and {int(middle.max())} copies."
                   if uneven else
                   f"**Even:** every interior pixel receives "
                   f"{int(middle.min()) if middle.size else 0} copies ({k} is a multiple of "
                   f"{stride}).")
        st.markdown(verdict)
        st.latex(r"\text{interior copies per axis} \in \left\{\left\lfloor\tfrac{K}{S}"
                 r"\right\rfloor, \left\lceil\tfrac{K}{S}\right\rceil\right\}")
    st.subheader("Dilated convolution: zeros between the taps")
    st.markdown("Transposed convolution inserts zeros between the **inputs**; dilated "
                "convolution inserts them between the **kernel taps**: the kernel covers "
                "more pixels with the same number of weights.")
    left, right = st.columns([1, 3])
    with left:
        dilation = st.slider("Dilation D", 1, 4, 2, key="learn2_t_d")
    dilated = dilated_kernel(kernel_preset("Sobel x"), dilation, sample_gray(32))
    with right:
        chart(grids([dilated.kernel, dilated.dense],
                    ["Sobel x, K = 3", f"dilated D = {dilation}: "
                                       f"{dilated.effective_size}x{dilated.effective_size}"],
                    [True, True], number_format=".0f", height=340,
                    widths=[0.3, 0.7], style=session.figure_style()))
    st.latex(rf"K' = K + (K-1)(D-1) = 3 + 2\cdot{dilation - 1} = {dilated.effective_size},"
             rf"\quad \max|\text{{conv2d}}(x, w, D) - \text{{conv2d}}(x, w')| = "
             + sci_latex(dilated.max_error))
    open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": dilation,
                    "dilation": dilation}, {"type": "relu"},
                   {"type": "conv", "out_channels": 8, "kernel_size": 3,
                    "padding": 2 * dilation, "dilation": 2 * dilation}, {"type": "relu"},
                   {"type": "maxpool", "kernel_size": 2}],
                  f"Lesson {LESSON.number}: dilated convs",
                  f"Dilations {dilation} and {2 * dilation}: the "
                  "Build page's summary shows the receptive field they reach (the spec has "
                  "no transposed layer).",
                  "learn2_t_build")

