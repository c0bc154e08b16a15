"""Learn page, Convolution outside images: the sum of dice.

The numbers come from `playground.lessons.dice`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import numpy as np
import streamlit as st

from playground.figures.lessons.dice import dice_bars
from playground.lessons import lesson
from playground.lessons.dice import dice_sum, dice_terms_latex, uniform_die
from playground.ui import session
from playground.ui.learn.widgets import chart, open_on_build

LESSON = lesson("dice")
SIGNALS_LESSON = lesson("signals")


def render() -> None:
    st.header("Convolution outside images: the sum of two dice")
    st.markdown("Throw two dice. The sum is z when the first shows x and the second z − x, "
                "for every x: the probability is a sum of products over a sliding index, "
                f"exactly the 1-D convolution of lesson {SIGNALS_LESSON.number}. So the "
                "distribution of a sum is the "
                "**convolution of the distributions**, computed below with the same "
                "`conv1d` (kernel flipped) that filtered the signals.")
    st.latex(r"f_Z(z) = (f_X * f_Y)(z) = \sum_x f_X(x)\, f_Y(z - x)")
    controls, view = st.columns([1, 3])
    with controls:
        faces = st.slider("Faces per die", 2, 12, 6, key="learn2_d_faces")
        dice = st.slider("Number of dice", 2, 5, 2, key="learn2_d_dice")
        z = st.slider("Sum z (two dice)", 2, 2 * faces, min(7, 2 * faces), key="learn2_d_z")
    total = dice_sum(faces, dice)
    with view:
        chart(dice_bars(uniform_die(faces), total, highlight=z if dice == 2 else None,
                        title=f"{dice} dice with {faces} faces", style=session.figure_style()))
    st.latex(dice_terms_latex(faces, z))
    mode = total.values[int(np.argmax(total.probabilities))]
    st.markdown(f"Counting all {faces ** dice:,} equally likely outcomes gives the same "
                f"distribution (max difference {total.max_error:.1e}). The most likely sum is "
                f"**{mode}**"
                + (" — and with more dice the convolution of many flat distributions turns "
                   "into a bell curve (the central limit theorem)." if dice > 2 else "."))
    open_on_build([{"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
                   {"type": "relu"}, {"type": "maxpool", "kernel_size": 2},
                   {"type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1},
                   {"type": "relu"}, {"type": "maxpool", "kernel_size": 2}],
                  f"Lesson {LESSON.number}: sums of products",
                  "Every conv layer computes the same sum of products as the dice: a "
                  "convolution.",
                  "learn2_d_build")

