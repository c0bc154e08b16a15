"""Learn page, The backward pass: autograd's gradients at every layer, and the rules behind them.

The numbers come from `playground.lessons.backward`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import numpy as np
import streamlit as st

from playground.figures.lessons.grids import gradient_maps, grids, heatmaps
from playground.lessons import lesson
from playground.lessons.backward import (BACKWARD_LAYERS, BackwardPass, backward_pass,
                                         busiest_window, network_conv_check, pool_gradients)
from playground.lessons.latex import sci_latex
from playground.lessons.samples import sample_digit
from playground.ui import session
from playground.ui.learn.widgets import chart, open_on_build

LESSON = lesson("backward")


@st.cache_data(show_spinner=False, max_entries=10)
def _backward(digit: int) -> BackwardPass:
    return backward_pass(sample_digit(digit), digit)


def render() -> None:
    st.header("The backward pass")
    st.markdown("Training needs the gradient of the loss with respect to every weight. "
                "**Backpropagation** starts at the loss and applies the chain rule layer by "
                "layer, from the output back to the input. Here: one real digit, a small "
                "network (conv, ReLU, max pool, conv, ReLU, average pool, linear), and "
                "autograd's gradient at every layer.")
    st.latex(r"\frac{\partial L}{\partial x^{(l)}} = \frac{\partial L}{\partial x^{(l+1)}}"
             r"\cdot\frac{\partial x^{(l+1)}}{\partial x^{(l)}},\qquad "
             r"\frac{\partial L}{\partial W^{(l)}} = x^{(l-1)} \star "
             r"\frac{\partial L}{\partial y^{(l)}}")
    a, b, c = st.columns(3)
    digit = a.selectbox("Digit (its label is the target)", list(range(10)), index=3,
                        key="learn2_b_digit")
    channel = b.slider("Channel", 1, 4, 2, key="learn2_b_channel") - 1
    result = _backward(int(digit))
    c.metric("cross-entropy loss", f"{result.loss:.3f}",
             help="Untrained network with fixed seed: p(true class) = "
                  f"{result.probabilities[digit]:.1%}")
    names = ["conv 1", "ReLU", "max pool 2x2", "conv 2", "ReLU", "avg pool 2x2"]
    spatial = result.layers[:6]
    chart(heatmaps([result.input_image] + [layer.output[channel] for layer in spatial],
                   ["input"] + [f"{n} out" for n in names], [False] + [True] * 6,
                   title=f"Forward: the outputs (channel {channel + 1})", height=290,
                   style=session.figure_style()))
    chart(gradient_maps([layer.grad_output[channel] for layer in spatial],
                        [f"∂L/∂ {n}" for n in names],
                        title="Backward: the gradient of the loss at each output "
                              "(red raises the loss)", height=290,
                        style=session.figure_style()))
    st.caption("Where ReLU was off (output 0) no gradient gets through; after max pooling "
               "only one pixel in four receives one.")
    first, second = result.layers[0].grad_weight, result.layers[3].grad_weight
    chart(gradient_maps([g * 1e3 for g in list(first[:, 0]) + list(second[channel])],
                        [f"conv1 k{n + 1}" for n in range(4)]
                        + [f"conv2 k{channel + 1}, in {n + 1}" for n in range(4)],
                        title="Kernel gradients ∂L/∂W ×1000: what one SGD step would "
                              "change", height=300, show_values=True,
                        style=session.figure_style()))

    st.subheader("Through pooling: the winner takes the gradient")
    left, right = st.columns([1, 3])
    busy_row, busy_col = busiest_window(result.layers[1].output[channel])
    with left:
        row = st.slider("Window row", 0, 6, busy_row, key="learn2_b_row")
        col = st.slider("Window column", 0, 6, busy_col, key="learn2_b_col")
    window = result.layers[1].output[channel][4 * row:4 * row + 4, 4 * col:4 * col + 4]
    upstream = result.layers[2].grad_output[channel][2 * row:2 * row + 2, 2 * col:2 * col + 2]
    pools = pool_gradients(window, upstream)
    with right:
        chart(grids([pools.window, pools.upstream * 1e3, pools.max_autograd * 1e3,
                     pools.avg_autograd * 1e3],
                    ["pool input x (4x4)", "upstream ∂L/∂y ×1000", "max pool: ∂L/∂x ×1000",
                     "avg pool: ∂L/∂x ×1000"], [False, True, True, True],
                    number_format=".2f", height=330, style=session.figure_style()))
    st.latex(r"\text{max: } \frac{\partial L}{\partial x_i} = \frac{\partial L}{\partial y}"
             r"\text{ if } x_i \text{ won, else } 0;\qquad \text{average: } "
             r"\frac{\partial L}{\partial x_i} = \frac{1}{4}\frac{\partial L}{\partial y};"
             rf"\qquad \max|\text{{rule}} - \text{{autograd}}| = {sci_latex(pools.max_error)}")
    st.caption("The same upstream gradient, sent back through max pooling and through average "
               "pooling of the same window (the network itself uses max pooling here).")

    st.subheader("Through a conv layer: convolution with the flipped kernel")
    check = network_conv_check(result, 3)
    first_check = network_conv_check(result, 0)
    scale = float(np.abs(check.autograd[channel]).max()) or 1.0
    chart(gradient_maps([check.autograd[channel], check.flipped[channel],
                         check.autograd[channel] - check.flipped[channel]],
                        ["∂L/∂x of conv 2 (autograd)", "∂L/∂y ⋆ rot180(W), padding K−1−P",
                         "difference (same colour scale)"], height=330,
                        limits=[None, None, scale], style=session.figure_style()))
    st.latex(r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} \star "
             r"\operatorname{rot}_{180}(W)\ (\text{in/out channels swapped}):\quad "
             rf"\max|\cdot| = {sci_latex(check.max_error)}\ (\text{{conv 2}}),\ "
             rf"{sci_latex(first_check.max_error)}\ (\text{{conv 1}})")
    st.caption(f"The kernel gradients above are the layer's input correlated with ∂L/∂y: "
               f"they match autograd to {max(check.weight_error, first_check.weight_error):.1e}."
               " Computed in float64.")
    open_on_build(BACKWARD_LAYERS,
                  f"Lesson {LESSON.number}: backward pass",
                  "The lesson's network: train it and watch the gradient norms on the Train "
                  "page.",
                  "learn2_b_build")

