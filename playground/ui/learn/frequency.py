"""Learn page, The frequency view: low- and high-pass kernels and the convolution theorem.

The numbers come from `playground.lessons.frequency`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import numpy as np
import streamlit as st

from playground.analysis import spectra as SP
from playground.figures import inspection as IF
from playground.lessons import lesson
from playground.lessons.frequency import (convolution_theorem, gaussian_half_power_frequency,
                                          gaussian_kernel, half_power_cutoff, high_pass)
from playground.lessons.samples import sample_gray
from playground.ui import session
from playground.ui.learn.widgets import chart, open_on_build

LESSON = lesson("frequency")


def render() -> None:
    st.header("Frequency view")
    st.markdown("The **convolution theorem**: filtering an image in space is the same as "
                "multiplying its 2-D Fourier spectrum by the kernel's spectrum H. A **low-pass** "
                "kernel (Gaussian) keeps slow changes and blurs; a **high-pass** kernel "
                "(identity − Gaussian) keeps fast changes: edges.")
    st.latex(r"\mathcal{F}\{x \star w\} = \mathcal{F}\{x\}\cdot H")
    left, right = st.columns([1, 3])
    with left:
        sigma = st.slider("Gaussian σ (pixels)", 0.5, 4.0, 1.5, step=0.25, key="learn_f_sigma")
        kind = st.radio("Filter", ("low-pass", "high-pass"), key="learn_f_kind")
    gauss = gaussian_kernel(sigma)
    kernel = gauss if kind == "low-pass" else high_pass(gauss)
    image = sample_gray(64)
    check = convolution_theorem(image, gauss if kind == "low-pass" else kernel)
    cutoff = half_power_cutoff(gauss, size=128)
    with left:
        st.metric("low-pass half-power cutoff", f"{cutoff:.3f} cycles/px")
        st.metric("theorem check: max |FFT(filtered) − product|", f"{check.max_error:.1e}")
    with right:
        chart(IF.convolution_theorem(SP.theorem_view(image, kernel, db=True),
                                     title=f"{kind} {kernel.shape[0]}x{kernel.shape[1]} "
                                           f"kernel, σ = {sigma}",
                                     style=session.figure_style()))
    st.latex(rf"|H(f)| \approx e^{{-2\pi^2\sigma^2 f^2}},\quad |H| = \tfrac{{1}}{{\sqrt{{2}}}}"
             rf"\text{{ (half power, }}-3\text{{ dB) at }} "
             rf"f = \frac{{\sqrt{{\ln 2}}}}{{2\pi\sigma}} = "
             rf"{gaussian_half_power_frequency(sigma):.3f}\ \text{{(measured: }}"
             rf"{cutoff:.3f})")
    st.caption("A larger σ moves the cutoff to lower frequencies: more blur. The measured "
               "value is read off the kernel's radial FFT profile (on a 128x128 grid).")
    open_on_build([{"type": "conv", "out_channels": 16, "kernel_size": 5, "padding": 2},
                   {"type": "relu"}, {"type": "maxpool", "kernel_size": 2}],
                  f"Lesson {LESSON.number}: kernels in frequency",
                  "Train it, then open Inspect → Frequency to see which kernels became low- or "
                  "high-pass.",
                  "learn_f_build")

