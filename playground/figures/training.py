"""Pure figure builders: arrays and records in, plotly figures out (no Streamlit here).

Each builder writes its layout as one dict and hands it to go.Figure: every
update_layout/update_*axes call on a built figure validates the whole layout again, and
the Train page redraws these twice a second while the training thread needs the GIL.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from playground.figures.inspection import rgb_kernel_images
from playground.figures.style import DEFAULT, Style


def _title(text: str, style: Style) -> dict | None:
    """A chart title in the style's title font (plotly would size it from the chart font)."""
    return dict(text=text, font=style.title_font()) if text else None


# A log axis labels 1, 2 and 5 in every decade ("5, 2, 1, 5, 2, 0.1"): powers of ten only.
LOG_DECADES = dict(type="log", dtick=1, exponentformat="power")


def _column(records: Sequence, name: str) -> np.ndarray:
    return np.fromiter((getattr(r, name) for r in records), dtype=np.float64,
                       count=len(records))


def training_curves(step_records: Sequence, eval_records: Sequence,
                    title: str = "", by: str = "step", epoch_records: Sequence = (),
                    height: int = 360, *, lr_changes: Sequence = (),
                    style: Style = DEFAULT) -> go.Figure:
    """Loss and accuracy: train (per record) and test (per eval), against the training step
    (`by="step"`) or the epoch (`by="epoch"`, with each finished epoch's averages marked).
    Each learning rate set by hand (`lr_changes`: step, epoch, lr) is a labelled dashed line
    in both panels, at the first step trained with it."""
    if by not in ("step", "epoch"):
        raise ValueError(f"by must be 'step' or 'epoch', got {by!r}")
    train, test = style.line_color(0), style.line_color(1)
    width = style.line_width
    # numpy arrays, not lists: plotly validates a list element by element (slow at 2x/s)
    steps = _column(step_records, by)
    eval_steps = _column(eval_records, by)
    traces = [
        go.Scatter(x=steps, y=_column(step_records, "loss"), name="train loss",
                   mode="lines", line=dict(color=train, width=width)),
        go.Scatter(x=eval_steps, y=_column(eval_records, "test_loss"), name="test loss",
                   mode="lines+markers", line=dict(color=test, width=width)),
        go.Scatter(x=steps, y=_column(step_records, "train_acc"), name="train accuracy",
                   mode="lines", line=dict(color=train, width=width, dash="dot"), **RIGHT),
        go.Scatter(x=eval_steps, y=_column(eval_records, "test_acc"), name="test accuracy",
                   mode="lines+markers", line=dict(color=test, width=width, dash="dot"),
                   **RIGHT),
    ]
    if by == "epoch" and epoch_records:
        epochs = [r.epoch for r in epoch_records]
        traces += [
            go.Scatter(x=epochs, y=[r.train_loss for r in epoch_records],
                       name="train loss (epoch mean)", mode="markers",
                       marker=dict(color=train, size=style.marker(11), symbol="square")),
            go.Scatter(x=epochs, y=[r.train_acc for r in epoch_records],
                       name="train accuracy (epoch mean)", mode="markers",
                       marker=dict(color=train, size=style.marker(11), symbol="square-open"),
                       **RIGHT),
        ]
    layout = _loss_accuracy_layout(
        ("Loss", "Accuracy"), "training step" if by == "step" else "epoch", title, height,
        "curves", style)
    _mark_lr_changes(layout, [(getattr(change, by), change.lr) for change in lr_changes],
                     style)
    return go.Figure(traces, layout)


def _mark_lr_changes(layout: dict, changes: Sequence[tuple[float, float]],
                     style: Style) -> None:
    """A dashed vertical line per (x, new lr) in both panels, labelled once on the left."""
    color = style.line_color(2)
    shapes, labels = [], []
    for x, lr in changes:
        for axis in ("", "2"):
            shapes.append(dict(type="line", x0=x, x1=x, xref=f"x{axis}", y0=0, y1=1,
                               yref=f"y{axis} domain",
                               line=dict(color=color, width=style.line_width, dash="dash")))
        labels.append(dict(text=f"lr {lr:g}", x=x, xref="x", y=0.98, yref="y domain",
                           xanchor="left", yanchor="top", showarrow=False,
                           font=dict(style.tick_font(), color=color),
                           bgcolor="rgba(255,255,255,0.7)"))
    if shapes:
        layout["shapes"] = shapes
        layout["annotations"] = layout["annotations"] + labels


# The right-hand panel of a loss/accuracy pair (a trace's axes there).
RIGHT = dict(xaxis="x2", yaxis="y2")
PANEL_DOMAINS = ([0.0, 0.45], [0.55, 1.0])   # make_subplots' split with spacing 0.1


def _loss_accuracy_layout(titles: tuple[str, str], x_title: str, title: str, height: int,
                          uirevision: str, style: Style) -> dict:
    """Loss (left, from zero) and accuracy (right, 0-100%) panels as a plain layout dict.

    Written out instead of make_subplots + update_*axes: the Train page draws this twice a
    second while training runs, and building it through plotly's helpers took ~18 ms of
    Python (holding the GIL the training thread needs) against ~3 ms this way."""
    return _two_panels(titles, x_title, dict(rangemode="tozero"),
                       dict(range=[0, 1], tickformat=".0%"), title, height, uirevision, style)


def _two_panels(titles: tuple[str, str], x_title: str, left_y: dict, right_y: dict,
                title: str, height: int, uirevision: str, style: Style) -> dict:
    """Two captioned side-by-side panels (PANEL_DOMAINS) with one x title; `left_y` and
    `right_y` are the settings of each panel's y axis."""
    axis = dict(tickfont=style.tick_font(), title=dict(font=style.tick_font()))
    x_axis = dict(axis, title=dict(text=x_title, font=style.tick_font()))
    left, right = PANEL_DOMAINS
    return dict(
        xaxis=dict(x_axis, domain=left, anchor="y"),
        yaxis=dict(axis, domain=[0.0, 1.0], anchor="x", **left_y),
        xaxis2=dict(x_axis, domain=right, anchor="y2"),
        yaxis2=dict(axis, domain=[0.0, 1.0], anchor="x2", **right_y),
        annotations=[dict(text=text, x=(domain[0] + domain[1]) / 2, y=1.0, xref="paper",
                          yref="paper", xanchor="center", yanchor="bottom", showarrow=False,
                          font=style.caption_font())
                     for text, domain in zip(titles, PANEL_DOMAINS)],
        title=_title(title, style), height=style.height(height), font=style.chart_font(),
        margin=dict(l=40, r=20, t=style.height(50 if title else 30), b=40),
        legend=dict(orientation="h", y=-0.25, font=style.legend_font()),
        uirevision=uirevision)


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


def kernel_grid(kernels: np.ndarray, title: str = "", height: int | None = None, *,
                style: Style = DEFAULT) -> go.Figure:
    """All kernels of a conv layer as one tiled heatmap, colour scale centred on zero."""
    tiled = tile_kernels(kernels)
    limit = float(np.nanmax(np.abs(tiled))) if np.isfinite(tiled).any() else 1.0
    heatmap = go.Heatmap(
        z=tiled, colorscale=style.diverging, zmid=0, zmin=-limit, zmax=limit,
        hovertemplate="weight %{z:.3f}<extra></extra>", colorbar=style.colorbar("weight"))
    rows, _ = tiled.shape
    return go.Figure(heatmap, dict(
        xaxis=dict(showticklabels=False, showgrid=False, constrain="domain"),
        yaxis=dict(autorange="reversed", showticklabels=False, showgrid=False,
                   scaleanchor="x", constrain="domain"),
        title=_title(title, style), font=style.chart_font(),
        height=style.height(height or int(min(700, max(260, 26 * rows + 80)))),
        margin=dict(l=10, r=10, t=style.height(40 if title else 10), b=10),
        plot_bgcolor="white", uirevision="kernels"))


def first_layer_kernels(kernels: np.ndarray, title: str = "", height: int | None = None, *,
                        style: Style = DEFAULT) -> go.Figure:
    """A network's first conv layer. On a colour input each kernel is one small RGB picture
    in a near-square grid: as a heatmap, a row of three channel tiles per kernel stacks
    into a thin strip of specks. Otherwise `kernel_grid`."""
    if kernels.shape[1] != 3:
        return kernel_grid(kernels, title, height, style=style)
    figure = rgb_kernel_images(kernels, title=title, style=style)
    if height is not None:
        figure.update_layout(height=style.height(height))
    return figure


def compare_curves(runs: Sequence[tuple[str, Sequence, Sequence]], height: int = 380,
                   title: str = "", *, style: Style = DEFAULT) -> go.Figure:
    """Overlay several runs: train loss and test accuracy against the epoch.

    `runs` holds (label, step_records, eval_records); the epoch axis lines up runs with
    different batch sizes. The first run is drawn thickest (the current one).
    """
    traces = []
    for position, (label, step_records, eval_records) in enumerate(runs):
        line = dict(color=style.line_color(position), dash=style.dash(position),
                    width=(2 if position == 0 else 1.25) * style.line_width)
        traces.append(go.Scatter(x=_column(step_records, "epoch"),
                                 y=_column(step_records, "loss"), name=label,
                                 legendgroup=str(position), mode="lines", line=line))
        traces.append(go.Scatter(x=_column(eval_records, "epoch"),
                                 y=_column(eval_records, "test_acc"), name=label,
                                 legendgroup=str(position), showlegend=False,
                                 mode="lines+markers", line=line, **RIGHT))
    return go.Figure(traces, _loss_accuracy_layout(("Train loss", "Test accuracy"), "epoch",
                                                   title, height, "compare", style))


def norm_curves(norm_records: Sequence, layer_names: dict[int, str] | None = None,
                height: int = 380, *, style: Style = DEFAULT) -> go.Figure:
    """Per-layer weight and gradient norms against the step (gradients on a log scale)."""
    names = layer_names or {}
    layers = sorted({layer for r in norm_records for layer in r.layers})
    traces = []
    for position, layer in enumerate(layers):
        points = [(r.step, r.weight_norms[r.layers.index(layer)],
                   r.grad_norms[r.layers.index(layer)])
                  for r in norm_records if layer in r.layers]
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3).T
        line = dict(color=style.line_color(position), width=1.25 * style.line_width)
        label = names.get(layer, f"layer {layer}")
        traces.append(go.Scatter(x=points[0], y=points[1], name=label, legendgroup=label,
                                 mode="lines", line=line))
        traces.append(go.Scatter(x=points[0], y=points[2], name=label, legendgroup=label,
                                 showlegend=False, mode="lines", line=line, **RIGHT))
    return go.Figure(traces, _two_panels(
        ("Weight norm per layer", "Gradient norm per layer"), "training step",
        dict(rangemode="tozero"), LOG_DECADES, "", height, "norms", style))


def dead_filter_bars(counts: Sequence[tuple[str, int, int]], height: int = 300, *,
                     style: Style = DEFAULT) -> go.Figure:
    """Stacked bars per conv layer: (label, dead filters, total filters)."""
    labels = [c[0] for c in counts]
    dead = [c[1] for c in counts]
    alive = [c[2] - c[1] for c in counts]
    axis = dict(tickfont=style.tick_font(), title=dict(font=style.tick_font()))
    return go.Figure([
        go.Bar(x=labels, y=alive, name="alive", marker_color=style.line_color(0)),
        go.Bar(x=labels, y=dead, name="dead (always zero after ReLU)",
               marker_color=style.line_color(3),
               text=[f"{d} dead" for d in dead], textposition="outside"),
    ], dict(barmode="stack", height=style.height(height), font=style.chart_font(),
            xaxis=axis, yaxis=dict(axis, title=dict(text="filters", font=style.tick_font())),
            margin=dict(l=40, r=20, t=30, b=40),
            legend=dict(orientation="h", y=-0.3, font=style.legend_font()),
            uirevision="dead"))


def confusion_matrix(matrix: np.ndarray, classes: Sequence[str], title: str = "",
                     height: int = 520, *, style: Style = DEFAULT) -> go.Figure:
    """Counts of [true, predicted]; colour is the share of each true class (row)."""
    matrix = np.asarray(matrix)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    labels = [str(c) for c in classes]
    heatmap = go.Heatmap(
        z=shares, x=labels, y=labels, colorscale="Blues", zmin=0, zmax=1,
        text=matrix, texttemplate="%{text}", textfont=dict(size=style.label_size),
        customdata=shares,
        hovertemplate="true %{y}, predicted %{x}: %{text} images (%{customdata:.1%})"
                      "<extra></extra>",
        colorbar=style.colorbar("share of<br>true class", tickformat=".0%"))
    axis = dict(tickfont=style.tick_font(), type="category")
    return go.Figure(heatmap, dict(
        xaxis=dict(axis, title=dict(text="predicted class", font=style.tick_font()),
                   side="bottom"),
        yaxis=dict(axis, title=dict(text="true class", font=style.tick_font()),
                   autorange="reversed"),
        title=_title(title, style), height=style.height(height), font=style.chart_font(),
        margin=dict(l=60, r=20, t=style.height(50 if title else 20), b=60),
        legend=dict(font=style.legend_font()), uirevision="confusion"))


def _to_rgb(images: np.ndarray) -> np.ndarray:
    """[N, C, H, W] floats in [0, 1] -> [N, H, W, 3] uint8."""
    images = np.clip(np.asarray(images, dtype=np.float32), 0, 1)
    if images.shape[1] == 1:
        images = np.repeat(images, 3, axis=1)
    return (images[:, :3].transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)


def image_grid(images: np.ndarray, captions: Sequence[str] = (), columns: int = 8,
               caption_colors: Sequence[str] = (), cell_px: int = 110,
               caption_lines: int = 1, title: str = "", *,
               style: Style = DEFAULT) -> go.Figure:
    """Images [N, C, H, W] in [0, 1] tiled into one picture, a caption under each.

    One image trace plus text annotations: fast to build and to redraw twice a second.
    """
    rgb = _to_rgb(images)
    count, height, width = rgb.shape[:3]
    columns = max(1, min(columns, count)) if count else 1
    rows = math.ceil(count / columns) if count else 1
    cell_px = style.height(cell_px)
    line_px = round(1.35 * style.label_size)   # a caption line, in screen pixels
    gap = max(2, round(width * 0.12))
    caption_rows = math.ceil(caption_lines * line_px * height / cell_px) if captions else 0
    cell_h, cell_w = height + caption_rows + gap, width + gap
    canvas = np.full((rows * cell_h, columns * cell_w, 3), 255, dtype=np.uint8)
    annotations = []
    for n in range(count):
        row, col = divmod(n, columns)
        top, left = row * cell_h, col * cell_w
        canvas[top:top + height, left:left + width] = rgb[n]
        if n < len(captions):
            annotations.append(dict(
                x=left + width / 2, y=top + height + 1, xref="x", yref="y",
                text=captions[n], showarrow=False, yanchor="top", align="center",
                font=dict(size=style.label_size,
                          color=caption_colors[n] if n < len(caption_colors)
                          else style.caption_color)))
    scale = cell_px / width
    return go.Figure(go.Image(z=canvas, hoverinfo="skip"), dict(
        xaxis=dict(visible=False, range=[-0.5, canvas.shape[1] - 0.5]),
        yaxis=dict(visible=False, range=[canvas.shape[0] - 0.5, -0.5]),
        title=_title(title, style), annotations=annotations, font=style.chart_font(),
        width=None, height=int(canvas.shape[0] * scale) + style.height(50 if title else 10),
        margin=dict(l=0, r=0, t=style.height(40 if title else 0), b=0),
        plot_bgcolor="white"))

