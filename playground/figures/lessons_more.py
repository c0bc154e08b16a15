"""Figure builders for the Learn page's part 2: arrays in, plotly figures out (no Streamlit).

Same look as `lesson_figures`: large fonts, numbers printed in small grids, RdBu for signed
values centred on zero, gray for images.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.lessons import more as P
from playground.figures.lessons import HIGHLIGHT, SERIES, VALUE_LIMIT, _finish, _heatmap, _square

GRID = "#eee"


def grids(arrays: Sequence[np.ndarray], titles: Sequence[str], signed: Sequence[bool],
          title: str = "", height: int = 380, number_format: str = ".2f",
          widths: Sequence[float] | None = None, show_values: bool = True,
          limits: Sequence[float | None] | None = None) -> go.Figure:
    """Grids side by side, each on its own colour scale (or on `limits[n]`, to show a
    difference on the scale of what it compares); small ones print their values in
    `number_format` (d3 format) when `show_values`."""
    figure = make_subplots(rows=1, cols=len(arrays), subplot_titles=list(titles),
                           horizontal_spacing=0.05, column_widths=list(widths) if widths else None)
    for n, (values, is_signed) in enumerate(zip(arrays, signed)):
        show = show_values and max(np.shape(values)) <= VALUE_LIMIT
        trace = _heatmap(values, is_signed, show_values=show)
        if show:
            trace.update(texttemplate=f"%{{z:{number_format}}}")
        if limits is not None and limits[n] is not None:
            trace.update(zmin=-limits[n], zmax=limits[n])
        figure.add_trace(trace, row=1, col=n + 1)
    _square(figure, len(arrays))
    return _finish(figure, title, height)


# --- lesson 1 -----------------------------------------------------------------------------

def signal_filter(x: np.ndarray, y: np.ndarray, kernel: np.ndarray, t: int,
                  correlation: np.ndarray | None = None, title: str = "") -> go.Figure:
    """The signal and the filtered signal (left) with the samples that make y_t marked, and
    the kernel's taps w_1 ... w_K (right)."""
    steps = np.arange(1, len(x) + 1)
    figure = make_subplots(rows=1, cols=2, column_widths=[0.78, 0.22], horizontal_spacing=0.08,
                           subplot_titles=("signal x and output y", "kernel w"))
    figure.add_trace(go.Scatter(x=steps, y=x, name="input x", mode="lines+markers",
                                line=dict(color="#888", width=2), marker=dict(size=5)), 1, 1)
    if correlation is not None:
        figure.add_trace(go.Scatter(x=steps, y=correlation, name="conv1d, kernel not flipped",
                                    mode="lines", line=dict(color=SERIES[2], width=3,
                                                            dash="dot")), 1, 1)
    figure.add_trace(go.Scatter(x=steps, y=y, name="output y (convolution)", mode="lines",
                                line=dict(color=SERIES[0], width=4)), 1, 1)
    taps = [t - k for k in range(len(kernel)) if t - k >= 1]
    figure.add_trace(go.Scatter(x=taps, y=[x[i - 1] for i in taps], name="samples in y_t",
                                mode="markers", marker=dict(size=13, color=HIGHLIGHT,
                                                            line=dict(color="black", width=1))),
                     1, 1)
    figure.add_trace(go.Scatter(x=[t], y=[y[t - 1]], name=f"y_{t}", mode="markers",
                                marker=dict(size=16, color=SERIES[1], symbol="diamond")), 1, 1)
    figure.add_trace(go.Bar(x=[f"w{k}" for k in range(1, len(kernel) + 1)], y=list(kernel),
                            marker_color=SERIES[0], showlegend=False,
                            text=[f"{v:.2f}" for v in kernel], textposition="outside"), 1, 2)
    figure.update_xaxes(title_text="t", row=1, col=1, gridcolor=GRID)
    figure.update_yaxes(gridcolor=GRID, zeroline=True, zerolinecolor="#999")
    top = max(float(np.abs(kernel).max()), 1e-9) * 1.35
    figure.update_yaxes(range=[min(0.0, float(kernel.min()) * 1.35), top], row=1, col=2)
    figure.update_layout(legend=dict(orientation="h", y=-0.2))
    return _finish(figure, title, 460)


# --- lesson 2 -----------------------------------------------------------------------------

def gradient_maps(maps: Sequence[np.ndarray], titles: Sequence[str], title: str = "",
                  height: int = 340, show_values: bool = False, number_format: str = ".0f",
                  limits: Sequence[float | None] | None = None) -> go.Figure:
    """Signed gradient maps (RdBu: red where raising the value raises the loss)."""
    return grids(maps, titles, [True] * len(maps), title, height, number_format,
                 show_values=show_values, limits=limits)


# --- lesson 3 -----------------------------------------------------------------------------

def overlap_map(counts: np.ndarray, title: str = "") -> go.Figure:
    """How many kernel copies a transposed convolution adds into each output pixel."""
    figure = go.Figure(_heatmap(counts, signed=False, show_values=max(counts.shape) <= 16,
                                digits=0))
    figure.data[0].update(colorscale="Viridis", zmin=0, textfont=dict(size=13))
    _square(figure, 1)
    return _finish(figure, title, 420)


# --- lesson 5 -----------------------------------------------------------------------------

def robustness(curves: Sequence[P.RobustnessCurves], title: str = "") -> go.Figure:
    """Test accuracy against rotation, scale and translation, one line per model."""
    figure = make_subplots(rows=1, cols=3, horizontal_spacing=0.07, subplot_titles=(
        "rotation", "scale", "translation"), shared_yaxes=True)
    for n, curve in enumerate(curves):
        style = dict(color=SERIES[n % len(SERIES)], width=3)
        for col, (xs, ys) in enumerate(((curve.angles, curve.angle_accuracy),
                                        (curve.scales, curve.scale_accuracy),
                                        (curve.shifts, curve.shift_accuracy)), start=1):
            figure.add_trace(go.Scatter(x=xs, y=ys, name=curve.name, mode="lines+markers",
                                        line=style, marker=dict(size=8),
                                        showlegend=col == 1, legendgroup=curve.name),
                             row=1, col=col)
    figure.update_xaxes(title_text="angle (degrees)", dtick=60, row=1, col=1)
    figure.update_xaxes(title_text="scale factor", dtick=0.25, row=1, col=2)
    figure.update_xaxes(title_text="shift (pixels right)", dtick=2, row=1, col=3)
    figure.update_yaxes(range=[0, 1.02], gridcolor=GRID)
    figure.update_yaxes(title_text="test accuracy", row=1, col=1)
    figure.update_xaxes(gridcolor=GRID)
    figure.update_layout(legend=dict(orientation="h", y=-0.3, x=0))
    return _finish(figure, title, 480)


def probe_strip(sweep: P.ProbeSweep, label: int, unit: str, count: int = 7,
                title: str = "") -> go.Figure:
    """A few of the warped digits with the model's prediction and confidence above each
    (green when right, red when wrong)."""
    picks = np.linspace(0, len(sweep.values) - 1, min(count, len(sweep.values))).round()
    picks = [int(p) for p in dict.fromkeys(picks)]
    titles = []
    for p in picks:
        mark = "✓" if sweep.predicted[p] == label else "✗"
        titles.append(f"{sweep.values[p]:g}{unit}<br>{mark} {sweep.predicted[p]} "
                      f"({sweep.confidence[p]:.0%})")
    figure = make_subplots(rows=1, cols=len(picks), subplot_titles=titles,
                           horizontal_spacing=0.02)
    for n, p in enumerate(picks):
        figure.add_trace(_heatmap(sweep.images[p], signed=False, show_values=False),
                         row=1, col=n + 1)
    _square(figure, len(picks))
    for n, p in enumerate(picks):
        colour = "#2e7d32" if sweep.predicted[p] == label else "#c62828"
        figure.layout.annotations[n].font = dict(size=16, color=colour)
    figure = _finish(figure, title, 300)
    figure.update_layout(margin=dict(t=110 if title else 80))
    return figure


def probe_confidence(sweeps: dict[str, P.ProbeSweep], label: int, axis_title: str,
                     title: str = "") -> go.Figure:
    """Probability of the true class along the sweep, one line per model; each marker
    is labelled with the predicted digit."""
    figure = go.Figure()
    for n, (name, sweep) in enumerate(sweeps.items()):
        colours = ["#2e7d32" if p == label else "#c62828" for p in sweep.predicted]
        figure.add_trace(go.Scatter(
            x=sweep.values, y=sweep.true_probability, name=name, mode="lines+markers+text",
            text=[str(p) for p in sweep.predicted], textposition="top center",
            textfont=dict(size=14, color=colours),
            line=dict(color=SERIES[n % len(SERIES)], width=3), marker=dict(size=9)))
    figure.update_xaxes(title_text=axis_title, gridcolor=GRID)
    figure.update_yaxes(title_text=f"P(true class {label})", range=[0, 1.12], gridcolor=GRID)
    figure.update_layout(legend=dict(orientation="h", y=1.12, x=0))
    return _finish(figure, title, 400)


# --- lesson 6 -----------------------------------------------------------------------------

def _fraction_text(value: Fraction, denominator: int) -> str:
    return f"{round(value * denominator)}/{denominator}"


def dice_bars(die: np.ndarray, total: P.DiceSum, highlight: int | None = None,
              title: str = "") -> go.Figure:
    """One die's distribution (left) and the distribution of the sum (right) with each
    bar's probability over faces**dice."""
    denominator = total.faces ** total.dice
    figure = make_subplots(rows=1, cols=2, column_widths=[0.28, 0.72], horizontal_spacing=0.08,
                           subplot_titles=("one die: f_X = f_Y",
                                           f"sum of {total.dice} dice: f_Z = f_X * f_Y"
                                           + (" * ..." if total.dice > 2 else "")))
    faces = list(range(1, len(die) + 1))
    figure.add_trace(go.Bar(x=faces, y=list(die), marker_color=SERIES[0], showlegend=False,
                            text=[f"1/{len(die)}"] * len(die), textposition="outside"), 1, 1)
    colours = [SERIES[1] if v == highlight else SERIES[0] for v in total.values]
    figure.add_trace(go.Bar(x=total.values, y=list(total.probabilities), marker_color=colours,
                            showlegend=False, textposition="outside",
                            text=[_fraction_text(f, denominator) if len(total.values) <= 25
                                  else "" for f in total.fractions]), 1, 2)
    figure.update_xaxes(title_text="face", dtick=1, row=1, col=1)
    figure.update_xaxes(title_text="sum z", dtick=1 if len(total.values) <= 25 else 5,
                        row=1, col=2)
    figure.update_yaxes(title_text="probability", gridcolor=GRID, row=1, col=1,
                        range=[0, float(die.max()) * 1.3])
    figure.update_yaxes(gridcolor=GRID, row=1, col=2,
                        range=[0, float(total.probabilities.max()) * 1.2])
    return _finish(figure, title, 430)
