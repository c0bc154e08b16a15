"""Pure figure builders: arrays and records in, plotly figures out (no Streamlit here)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Blue-white-red diverging scale, readable by colour-blind viewers (ColorBrewer RdBu),
# reversed so positive weights are red and negative ones blue.
DIVERGING = "RdBu_r"
FONT = dict(size=15)


def training_curves(step_records: Sequence, eval_records: Sequence,
                    title: str = "") -> go.Figure:
    """Loss and accuracy against training step: train (per record) and test (per eval)."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"),
                           horizontal_spacing=0.1)
    steps = [r.step for r in step_records]
    eval_steps = [r.step for r in eval_records]
    figure.add_trace(go.Scatter(x=steps, y=[r.loss for r in step_records], name="train loss",
                                mode="lines", line=dict(color="#1f77b4")), row=1, col=1)
    figure.add_trace(go.Scatter(x=eval_steps, y=[r.test_loss for r in eval_records],
                                name="test loss", mode="lines+markers",
                                line=dict(color="#ff7f0e")), row=1, col=1)
    figure.add_trace(go.Scatter(x=steps, y=[r.train_acc for r in step_records],
                                name="train accuracy", mode="lines",
                                line=dict(color="#1f77b4", dash="dot")), row=1, col=2)
    figure.add_trace(go.Scatter(x=eval_steps, y=[r.test_acc for r in eval_records],
                                name="test accuracy", mode="lines+markers",
                                line=dict(color="#ff7f0e", dash="dot")), row=1, col=2)
    figure.update_xaxes(title_text="training step")
    figure.update_yaxes(rangemode="tozero", row=1, col=1)
    figure.update_yaxes(range=[0, 1], tickformat=".0%", row=1, col=2)
    figure.update_layout(title=title or None, height=360, font=FONT,
                         margin=dict(l=40, r=20, t=50 if title else 30, b=40),
                         legend=dict(orientation="h", y=-0.25), uirevision="curves")
    return figure


def tile_kernels(kernels: np.ndarray, columns: int | None = None) -> np.ndarray:
    """Lay out kernels [out, in, k, k] as one 2-D array, NaN gaps between tiles.

    With one input channel the kernels wrap into a near-square grid; otherwise each row is
    one output channel and each column one input channel.
    """
    out_channels, in_channels, kh, kw = kernels.shape
    if in_channels == 1:
        columns = columns or math.ceil(math.sqrt(out_channels))
        rows = math.ceil(out_channels / columns)
        positions = [(i // columns, i % columns, i, 0) for i in range(out_channels)]
    else:
        rows, columns = out_channels, in_channels
        positions = [(o, i, o, i) for o in range(out_channels) for i in range(in_channels)]
    tiled = np.full((rows * (kh + 1) - 1, columns * (kw + 1) - 1), np.nan, dtype=np.float32)
    for row, col, o, i in positions:
        top, left = row * (kh + 1), col * (kw + 1)
        tiled[top:top + kh, left:left + kw] = kernels[o, i]
    return tiled


def kernel_grid(kernels: np.ndarray, title: str = "", height: int | None = None) -> go.Figure:
    """All kernels of a conv layer as one tiled heatmap, colour scale centred on zero."""
    tiled = tile_kernels(kernels)
    limit = float(np.nanmax(np.abs(tiled))) if np.isfinite(tiled).any() else 1.0
    figure = go.Figure(go.Heatmap(
        z=tiled, colorscale=DIVERGING, zmid=0, zmin=-limit, zmax=limit,
        hovertemplate="weight %{z:.3f}<extra></extra>", colorbar=dict(title="weight")))
    rows, cols = tiled.shape
    figure.update_yaxes(autorange="reversed", showticklabels=False, showgrid=False,
                        scaleanchor="x", constrain="domain")
    figure.update_xaxes(showticklabels=False, showgrid=False, constrain="domain")
    figure.update_layout(title=title or None, font=FONT,
                         height=height or int(min(700, max(260, 26 * rows + 80))),
                         margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                         plot_bgcolor="white", uirevision="kernels")
    return figure
