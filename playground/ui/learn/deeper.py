"""Learn page, Going deeper: plain against residual stacks, the bottleneck block, ResNet stages.

The numbers come from `playground.lessons.deeper`, the figures from
`playground.figures.lessons`."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from playground.figures import diagram
from playground.figures.lessons.deeper import bottleneck_bars, degradation_curves
from playground.lessons import lesson
from playground.lessons.deeper import (DegradationResult, MAX_BLOCKS, block_spec,
                                       bottleneck_count, bottleneck_latex,
                                       degradation_experiment, resnet_spec, stage_rows)
from playground.lessons.latex import latex_int, sci_latex
from playground.model import build as M
from playground.ui import session
from playground.ui.learn.widgets import chart, open_on_build, open_spec

LESSON = lesson("deeper")


@st.cache_resource(show_spinner=False)
def _degradation(blocks: int) -> DegradationResult:
    return degradation_experiment(blocks)


def degradation_panel(key: str) -> None:
    """The plain vs residual experiment (the normalisation lesson shows it too)."""
    blocks = st.select_slider("Depth (3x3 conv layers in each network)",
                              [2 * b + 1 for b in range(1, MAX_BLOCKS + 1)],
                              value=2 * MAX_BLOCKS + 1, key=f"{key}_depth")
    with st.spinner("Training both networks on the CPU (a few seconds)..."):
        result = _degradation((blocks - 1) // 2)
    plain, residual = result.plain, result.residual
    chart(degradation_curves(result, title=f"{blocks} conv layers, plain vs residual: "
                                           f"{result.steps} SGD steps of "
                                           f"{result.batch_size} digits",
                             style=session.figure_style()))
    a, b, c = st.columns(3)
    a.metric("test accuracy, plain", f"{plain.test_acc:.1%}")
    b.metric("test accuracy, residual", f"{residual.test_acc:.1%}")
    c.metric("first-layer gradient, residual / plain", f"{result.first_layer_ratio:,.3g}x")
    st.latex(rf"\frac{{\partial L}}{{\partial x_l}} = \frac{{\partial L}}{{\partial x_L}}"
             rf"\prod_{{i=l}}^{{L-1}} \frac{{\partial x_{{i+1}}}}{{\partial x_i}}"
             rf"\quad\text{{vs}}\quad x_{{i+1}} = x_i + F(x_i) \Rightarrow "
             rf"\frac{{\partial x_{{i+1}}}}{{\partial x_i}} = I + \frac{{\partial F}}"
             rf"{{\partial x_i}};\quad \lVert\nabla W_1\rVert:\ \text{{plain }} "
             rf"{sci_latex(float(plain.first_grad_norms[0]))},\ \text{{residual }} "
             rf"{sci_latex(float(residual.first_grad_norms[0]))}")
    st.markdown(
        "In the plain stack the gradient reaching a layer is a **product** of one factor per "
        "layer above it. With PyTorch's default initialisation each conv + ReLU shrinks the "
        "signal, so the product vanishes: the first layers get almost no gradient and the "
        "loss hardly moves. A residual block adds its input back, so each factor is the "
        "identity plus something, and the gradient reaches the first layer intact. "
        f"(Same data for both: {result.dataset}; same batches, same seed; "
        f"{plain.params:,} vs {residual.params:,} parameters, the residual blocks' "
        f"BatchNorm being the difference. Trained in {result.seconds:.1f} s.)")
    left, right = st.columns(2)
    with left:
        open_spec(plain.spec, "Train the plain stack on the Train page", f"{key}_train_plain")
    with right:
        open_spec(residual.spec, "Train the residual stack on the Train page",
                  f"{key}_train_residual")


def render() -> None:
    st.header("Going deeper: degradation and residual learning")
    st.markdown("Stacking more layers should never hurt: the extra layers could learn the "
                "identity. Yet plain deep stacks train **worse** than shallow ones. Residual "
                "blocks learn a change F(x) on top of the identity: y = ReLU(F(x) + x).")
    experiment, bottleneck, stages = st.tabs(["Plain vs residual", "Bottleneck block",
                                              "ResNet stages"])
    with experiment:
        degradation_panel("learn_d")
    with bottleneck:
        st.markdown("Deep ResNets (50 layers and more) use a **bottleneck** block: a 1x1 conv "
                    "reduces the channels, the 3x3 conv works on the few channels, a 1x1 conv "
                    "expands them back. Numbers from the real blocks the spec builds "
                    "(`residual` with `bottleneck_width`), BatchNorm included.")
        a, b = st.columns(2)
        channels = a.select_slider("channels C", [64, 128, 256, 512], value=256,
                                   key="learn_d_channels")
        width = b.select_slider("bottleneck width w", [16, 32, 64, 128],
                                value=64, key="learn_d_width")
        count = bottleneck_count(int(channels), int(width))
        chart(bottleneck_bars(count, title=f"{channels} → {width} → {channels} "
                                           f"vs two 3x3 convs at {channels} channels "
                                           "(14x14 input)", style=session.figure_style()))
        for formula in bottleneck_latex(count):
            st.latex(formula)
        st.markdown(f"The bottleneck has **{count.basic_params / count.bottleneck_params:.1f}x"
                    "** fewer parameters, so the same budget buys a much deeper network.")
        open_spec(block_spec(int(channels), int(width)),
                  "Open the bottleneck block on the Build page", "learn_d_build_bottleneck",
                  page="build")
    with stages:
        st.markdown("A ResNet is a **stem**, then **stages**: each stage after the first "
                    "halves the resolution (stride 2 in its first block) and doubles the "
                    "channels, so the work per layer stays about the same. The first block of "
                    "a stage changes the shape, so its shortcut is a 1x1 **projection**; the "
                    "others are identities.")
        a, b, c = st.columns(3)
        count_stages = a.slider("stages", 1, 4, 3, key="learn_d_stages")
        per_stage = b.slider("blocks per stage", 1, 3, 2, key="learn_d_blocks")
        use_bottleneck = c.toggle("bottleneck blocks", False, key="learn_d_bottleneck")
        model_spec = resnet_spec(count_stages, per_stage, bottleneck=use_bottleneck)
        rows = stage_rows(model_spec)
        analysis = M.analyze(model_spec)
        chart(diagram.network_figure(analysis, height=360, style=session.figure_style()))
        st.dataframe(pd.DataFrame([{
            "layer": row.index, "stage": row.stage, "block": row.block, "stride": row.stride,
            "output": "x".join(map(str, row.output_shape)), "parameters": f"{row.params:,}",
            "shortcut": "projection (1x1 conv + BN)" if row.projection else "identity"}
                                   for row in rows]), hide_index=True, width="stretch")
        last = rows[-1].output_shape
        st.latex(rf"H_s = \frac{{H}}{{2^{{s-1}}}},\ C_s = 2^{{s-1}} C_1:\quad "
                 rf"{model_spec.input[1]} \to {last[1]},\ {rows[0].output_shape[0]} \to {last[0]}"
                 rf"\ \text{{channels}};\ \text{{total }} {latex_int(analysis.total_params)}"
                 r"\ \text{parameters}")
        open_spec(model_spec, "Open this ResNet on the Build page", "learn_d_build_resnet",
                  page="build")
    open_on_build([{"type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1,
                    "bias": False}, {"type": "batchnorm"}, {"type": "relu"},
                   {"type": "residual", "out_channels": 16},
                   {"type": "residual", "out_channels": 32, "stride": 2},
                   {"type": "residual", "out_channels": 64, "stride": 2,
                    "bottleneck_width": 16}, {"type": "global_avgpool"}],
                  f"Lesson {LESSON.number}: going deeper",
                  "Three stages; the last uses a bottleneck "
                  "block.",
                  "learn_d_build")

