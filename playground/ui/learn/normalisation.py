"""Learn page, BatchNorm, dropout and residual blocks, each against the real module.

The numbers come from `playground.lessons.normalisation`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import numpy as np
import streamlit as st

from playground.figures.lessons.grids import heatmaps
from playground.figures.lessons.normalisation import channel_bars
from playground.lessons import lesson
from playground.lessons.normalisation import (batchnorm_check, digit_feature_batch, dropout_demo,
                                              residual_info)
from playground.lessons.samples import sample_digit
from playground.ui.learn.deeper import degradation_panel
from playground.ui import session
from playground.ui.learn.widgets import chart, open_on_build

LESSON = lesson("normalisation")
DEEPER_LESSON = lesson("deeper")


def render() -> None:
    st.header("Batch normalization, dropout, residual blocks")
    bn_tab, drop_tab, res_tab = st.tabs(["BatchNorm", "Dropout", "Residual blocks"])
    with bn_tab:
        st.markdown("BatchNorm normalises each channel with the mean and variance over the "
                    "batch and all positions (N, H, W), then scales by γ and shifts by β: "
                    "2 trainable parameters per channel.")
        batch_size = st.slider("Batch size N (real digits)", 2, 10, 8, key="learn_b_n")
        check = batchnorm_check(digit_feature_batch(batch_size))
        names = ["Sobel x", "Sobel y", "box"]
        chart(channel_bars(names, {"mean before": check.mean, "variance before":
                                   check.var,
                                   "mean after": check.normalised.mean(axis=(0, 2, 3)),
                                   "variance after": check.normalised.var(axis=(0, 2, 3))},
                           title=f"Per-channel statistics over (N, H, W) = "
                                 f"({batch_size}, 26, 26)", style=session.figure_style()))
        mean = float(np.round(check.mean[0], 3)) + 0.0  # no "-0.000"
        st.latex(rf"\hat x = \frac{{x - \mu_c}}{{\sqrt{{\sigma_c^2 + \epsilon}}}},\ "
                 rf"y = \gamma_c \hat x + \beta_c,\quad \mu_{{\text{{Sobel x}}}} = "
                 rf"{mean:.3f},\ \sigma^2 = {check.var[0]:.3f};\ "
                 rf"\text{{params}} = 2C = {check.params}")
        st.caption(f"nn.BatchNorm2d in training mode agrees with the formula to "
                   f"{check.max_error:.1e}; it also keeps {check.buffers} running statistics "
                   "(not trained) for evaluation.")
    with drop_tab:
        st.markdown("Dropout zeroes each value with probability p while training and scales "
                    "the rest by 1/(1−p), so the expected value is unchanged; in evaluation "
                    "it does nothing.")
        p = st.slider("p", 0.0, 0.9, 0.5, step=0.1, key="learn_b_p")
        demo = dropout_demo(sample_digit(5), p, samples=3)
        chart(heatmaps(list(demo.train_outputs) + [demo.eval_output],
                       ["training pass 1", "training pass 2", "training pass 3",
                        "evaluation"], [False] * 4, height=330, style=session.figure_style()))
        st.latex(rf"\text{{kept}} = {demo.kept_fraction:.2f}\ (1-p = {1 - p:.2f}),\quad "
                 rf"\text{{mean}}_\text{{train}} = {demo.train_mean:.3f} \approx "
                 rf"\text{{mean}}_\text{{input}} = {demo.input_mean:.3f}")
    with res_tab:
        st.markdown("A residual block adds its input back: y = ReLU(F(x) + shortcut(x)). The "
                    "shortcut is the **identity** when the shape is unchanged, else a 1x1 "
                    "**projection** (conv + BN). If F learns zero, the block passes its input "
                    "through, so extra blocks cannot make the network worse; plain deep stacks "
                    "have no such easy path and train worse.")
        a, b, c = st.columns(3)
        cin = a.number_input("in channels", 1, 64, 16, key="learn_b_cin")
        cout = b.number_input("out channels", 1, 64, 16, key="learn_b_cout")
        stride = c.radio("stride", (1, 2), horizontal=True, key="learn_b_stride")
        info = residual_info(int(cin), int(cout), int(stride))
        kind = "projection (1x1 conv + BN)" if info.projection else "identity"
        st.markdown(f"Shortcut: **{kind}**, {info.shortcut_params:,} parameters; block: "
                    f"{info.params:,} parameters; output {info.out_shape}. With F set to "
                    f"zero: max |block(x) − ReLU(shortcut(x))| = {info.zero_body_error:.1e}.")
        st.subheader("Why deep plain stacks degrade")
        degradation_panel("learn_b")
        st.caption(f"Lesson {DEEPER_LESSON.number} (Going deeper) adds the bottleneck block "
                   "and ResNet stages.")
    open_on_build([{"type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1,
                    "bias": False}, {"type": "batchnorm"}, {"type": "relu"},
                   {"type": "residual", "out_channels": 16},
                   {"type": "residual", "out_channels": 32, "stride": 2},
                   {"type": "dropout", "p": 0.3}, {"type": "global_avgpool"}],
                  f"Lesson {LESSON.number}: BN, dropout, residual",
                  "A small ResNet: BatchNorm, an identity and a projection block, dropout before"
                  " the head.",
                  "learn_b_build")

