"""Learn page, Convolution step by step: the kernel on the input, one output pixel at a
time, with a play button.

The numbers come from `playground.lessons.convolution`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import numpy as np
import streamlit as st

from playground.figures.lessons.convolution import conv_step
from playground.lessons import lesson
from playground.lessons.convolution import (ConvSteps, conv_reference, conv_steps,
                                            convolution_kind, mac_terms, output_size_latex)
from playground.lessons.samples import crop, sample_digit, sample_gray
from playground.ui import session
from playground.ui.learn.widgets import chart, kernel_editor, open_on_build

LESSON = lesson("convolution")


def render() -> None:
    st.header("Convolution step by step")
    st.markdown("A conv layer slides a small **kernel** over the image. At each position it "
                "multiplies the pixels under the kernel by the kernel's weights and adds the "
                "products up: one number of the output. **Stride** is the step between "
                "positions, **padding** adds a border of zeros, **dilation** spreads the taps.")
    controls, view = st.columns([1, 3])
    with controls:
        source = st.radio("Input", ("digit crop", "photo crop"), horizontal=True,
                          key="learn_c_source")
        size = st.slider("Input size", 5, 10, 7, key="learn_c_size")
        kernel = kernel_editor("Sobel x", "learn_c")
        stride = st.slider("Stride S", 1, 3, 1, key="learn_c_stride")
        padding = st.slider("Padding P", 0, 3, 0, key="learn_c_padding")
        dilation = st.slider("Dilation D", 1, 3, 1, key="learn_c_dilation")
    image = sample_digit(3) if source == "digit crop" else sample_gray(48)
    top = (image.shape[0] - size) // 2
    grid = np.round(crop(image, top, top, size), 2)
    k = kernel.shape[0]
    with view:
        try:
            steps = conv_steps(grid, kernel, stride, padding, dilation)
        except ValueError as error:
            st.error(f"No output: {error}. Add padding or shrink the dilation.")
            st.latex(output_size_latex(size, k, stride, padding, dilation))
            return
        out_h, out_w = steps.output.shape
        step_key = f"learn_c_step_{out_h}x{out_w}"  # a new output size starts at step 1
        st.session_state.setdefault(step_key, 1)
        playing = _play_button(step_key, len(steps.steps))
        st.fragment(_conv_player, run_every=PLAY_SECONDS if playing else None)(
            steps, kernel, step_key)
        st.latex(output_size_latex(size, k, stride, padding, dilation))
        kind = convolution_kind(size, k, stride, padding, dilation)
        names = {"narrow": "a **narrow** (valid) convolution: no padding, the output shrinks",
                 "same": "a **same** convolution: the padding keeps the size (at stride 1)",
                 "wide": "a **wide** (full) convolution: padding K_eff−1, every partial "
                         "overlap counts, the output grows",
                 "padded": "a padded convolution (neither narrow, same nor wide)"}
        difference = float(np.abs(steps.output - conv_reference(
            grid, kernel, stride, padding, dilation)).max())
        st.markdown(f"This is {names[kind]}. Output {out_h}x{out_w}; the same numbers from "
                    f"PyTorch's `F.conv2d` differ by at most {difference:.1e}.")
    open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 3, "stride": stride,
                    "padding": padding, "dilation": dilation}, {"type": "relu"}],
                  f"Lesson {LESSON.number}: one conv layer",
                  "A single conv layer with the lesson's stride, "
                  "padding and dilation.",
                  "learn_c_build")


PLAY_SECONDS = 0.8          # between two kernel positions while playing


PLAY_KEY = "learn_c_playing"


def _toggle_play(step_key: str, count: int) -> None:
    """Play / pause (a button callback, so the label is right in the same run); playing
    from the last step starts again at the first."""
    playing = not st.session_state.get(PLAY_KEY)
    if playing and st.session_state[step_key] >= count:
        st.session_state[step_key] = 1
    st.session_state[PLAY_KEY] = playing


def _play_button(step_key: str, count: int) -> bool:
    playing = bool(st.session_state.get(PLAY_KEY)) and count > 1
    if count > 1:
        st.button("Pause" if playing else "Play", key="learn_c_play",
                  icon=":material/pause:" if playing else ":material/play_arrow:",
                  on_click=_toggle_play, args=(step_key, count))
    return playing


def _conv_player(steps: ConvSteps, kernel: np.ndarray, step_key: str) -> None:
    """The step slider, the kernel on the input and the sum written out; while playing
    (a timed rerun of this fragment only) the kernel moves one position per run."""
    count = len(steps.steps)
    if st.session_state.get(PLAY_KEY):
        if st.session_state[step_key] < count:
            st.session_state[step_key] += 1
        else:  # the last position: stop the timer with a full rerun
            st.session_state[PLAY_KEY] = False
            st.rerun()
    index = st.slider("Step (output pixel)", 1, count, key=step_key) - 1 if count > 1 else 0
    step = steps.steps[index]
    chart(conv_step(steps, kernel, index, title=f"Step {index + 1} of {count}: output "
                                                f"pixel ({step.out_row}, {step.out_col})",
                    style=session.figure_style()))
    st.latex(mac_terms(step, kernel))

