"""Learn page, Multiple channels: per-channel sums, and a conv layer's parameter count.

The numbers come from `playground.lessons.channels`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import numpy as np
import streamlit as st

from playground.figures.lessons.grids import heatmaps
from playground.lessons import lesson
from playground.lessons.channels import conv_params, conv_params_latex, multichannel
from playground.lessons.kernels import kernel_preset
from playground.lessons.samples import sample_photo
from playground.ui import session
from playground.ui.learn.widgets import chart, open_on_build

LESSON = lesson("channels")


def render() -> None:
    st.header("Multiple channels")
    st.markdown("A colour image has 3 channels, so each kernel has 3 slices, one per input "
                "channel. Each slice is slid over its own channel; the 3 results are **added** "
                "and a bias is added: one output channel. A layer has one such kernel per "
                "output channel.")
    controls, view = st.columns([1, 3])
    with controls:
        preset = st.selectbox("Kernel slice", ("Sobel x", "Laplacian", "box (mean)"),
                              key="learn_m_preset")
        weights = [st.slider(f"weight of the {name} slice", -1.0, 1.0, value,
                             step=0.25, key=f"learn_m_w{name}")
                   for name, value in (("R", 1.0), ("G", 0.0), ("B", -1.0))]
        bias = st.slider("bias b", -1.0, 1.0, 0.0, step=0.1, key="learn_m_bias")
    photo = sample_photo(40).transpose(2, 0, 1)
    kernel = np.stack([w * kernel_preset(preset) for w in weights])
    result = multichannel(photo, kernel, bias)
    with view:
        chart(heatmaps(list(photo), ["red channel", "green channel", "blue channel"],
                       [False] * 3, height=300, style=session.figure_style()))
        chart(heatmaps(list(result.per_channel) + [result.output],
                       ["R ⋆ w_R", "G ⋆ w_G", "B ⋆ w_B", f"sum + b ({bias:+.1f})"],
                       [True] * 4, height=320, style=session.figure_style()))
    st.latex(rf"y = x_R \star w_R + x_G \star w_G + x_B \star w_B + b,\quad "
             rf"y_{{0,0}} = {result.per_channel[0, 0, 0]:.3f} + {result.per_channel[1, 0, 0]:.3f}"
             rf" + {result.per_channel[2, 0, 0]:.3f} + ({bias:.2f}) = {result.output[0, 0]:.3f}")
    st.subheader("Parameters of a conv layer")
    a, b, c = st.columns(3)
    depth = a.number_input("input channels D", 1, 512, 3, key="learn_m_in")
    count = b.number_input("output channels P", 1, 512, 16, key="learn_m_out")
    size = c.number_input("kernel size U = V", 1, 11, 3, key="learn_m_k")
    st.markdown(f"The kernel depth equals the input channels ({depth}); the number of kernels "
                f"equals the output channels ({count}). `nn.Conv2d({depth}, {count}, {size})` "
                f"has weight shape `[{count}, {depth}, {size}, {size}]` and "
                f"**{conv_params(depth, count, size):,}** parameters:")
    st.latex(conv_params_latex(depth, count, size))
    open_on_build([{"type": "conv", "out_channels": int(count), "kernel_size": int(size)},
                   {"type": "relu"}, {"type": "maxpool", "kernel_size": 2}],
                  f"Lesson {LESSON.number}: colour input",
                  "One conv layer on 3-channel CIFAR-10 images.",
                  "learn_m_build",
                  (3, 32, 32),
                  "cifar10")

