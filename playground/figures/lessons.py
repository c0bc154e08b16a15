"""Figure builders for the Learn page: arrays in, plotly figures out (no Streamlit).

Small grids (up to VALUE_LIMIT cells a side) print their numbers in the cells so a lesson
can be read off the screen; signed values use the diverging RdBu scale centred on zero,
images use gray.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.lessons import basics as L
from playground.figures.training import DIVERGING, FONT, _readable

VALUE_LIMIT = 12
HIGHLIGHT = "#00c853"
PADDING_EDGE = "#ff6d00"
SERIES = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def _limit(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 1.0
    return top if top > 0 else 1.0


def _heatmap(values: np.ndarray, signed: bool, show_values: bool | None = None,
             digits: int = 2) -> go.Heatmap:
    values = np.asarray(values, dtype=np.float64)
    show = (max(values.shape) <= VALUE_LIMIT) if show_values is None else show_values
    style = dict(colorscale=DIVERGING, zmid=0, zmin=-_limit(values), zmax=_limit(values)) \
        if signed else dict(colorscale="gray")
    return go.Heatmap(z=values, showscale=False, hovertemplate="row %{y}, col %{x}: "
                      "%{z:.3f}<extra></extra>",
                      texttemplate=f"%{{z:.{digits}f}}" if show else None,
                      textfont=dict(size=14 if max(values.shape) <= 8 else 11), **style)


def _square(figure: go.Figure, count: int) -> None:
    for n in range(1, count + 1):
        suffix = "" if n == 1 else str(n)
        figure.update_layout({
            f"xaxis{suffix}": dict(showticklabels=False, showgrid=False, zeroline=False,
                                   constrain="domain"),
            f"yaxis{suffix}": dict(showticklabels=False, showgrid=False, zeroline=False,
                                   autorange="reversed", scaleanchor=f"x{suffix}",
                                   constrain="domain")})


def _finish(figure: go.Figure, title: str, height: int) -> go.Figure:
    figure.update_layout(title=dict(text=title or None, font=dict(size=18)), font=FONT,
                         height=height, plot_bgcolor="white",
                         margin=dict(l=10, r=10, t=70 if title else 40, b=10))
    return _readable(figure)


def heatmaps(arrays: Sequence[np.ndarray], titles: Sequence[str], signed: Sequence[bool],
             title: str = "", height: int = 380, show_values: bool | None = None) -> go.Figure:
    """Grids side by side, each with its own colour scale (gray images, RdBu signed)."""
    figure = make_subplots(rows=1, cols=len(arrays), subplot_titles=list(titles),
                           horizontal_spacing=0.04)
    for n, (values, is_signed) in enumerate(zip(arrays, signed)):
        figure.add_trace(_heatmap(values, is_signed, show_values), row=1, col=n + 1)
    _square(figure, len(arrays))
    return _finish(figure, title, height)


def _box(row0: float, col0: float, row1: float, col1: float, colour: str, width: int,
         axis: str, dash: str = "solid") -> dict:
    return dict(type="rect", x0=col0 - 0.5, x1=col1 + 0.5, y0=row0 - 0.5, y1=row1 + 0.5,
                xref=f"x{axis}", yref=f"y{axis}", line=dict(color=colour, width=width,
                                                             dash=dash))


def conv_step(steps: L.ConvSteps, kernel: np.ndarray, index: int, title: str = "") -> go.Figure:
    """The padded input (border dashed orange) with the kernel's taps at step `index`
    outlined in green, the kernel, and the output filled in up to that step."""
    step = steps.steps[index]
    output = np.full(steps.output.shape, np.nan)
    for done in steps.steps[:index + 1]:
        output[done.out_row, done.out_col] = done.value
    figure = make_subplots(rows=1, cols=3, column_widths=[0.45, 0.22, 0.33],
                           horizontal_spacing=0.05, subplot_titles=(
                               f"input {steps.padded.shape[0] - 2 * steps.padding}x"
                               f"{steps.padded.shape[1] - 2 * steps.padding}"
                               + (f" + zero padding {steps.padding}" if steps.padding else ""),
                               f"kernel {kernel.shape[0]}x{kernel.shape[1]}",
                               f"output {steps.output.shape[0]}x{steps.output.shape[1]}"))
    figure.add_trace(_heatmap(steps.padded, signed=False), row=1, col=1)
    figure.add_trace(_heatmap(kernel, signed=True), row=1, col=2)
    out_trace = _heatmap(output, signed=True, show_values=max(output.shape) <= VALUE_LIMIT)
    out_trace.update(zmin=-_limit(steps.output), zmax=_limit(steps.output))
    figure.add_trace(out_trace, row=1, col=3)
    shapes = []
    if steps.padding:
        p, (h, w) = steps.padding, steps.padded.shape
        shapes.append(_box(p, p, h - p - 1, w - p - 1, PADDING_EDGE, 3, "", "dash"))
    for r in step.rows:
        for c in step.cols:
            shapes.append(_box(r, c, r, c, HIGHLIGHT, 3, ""))
    shapes.append(_box(step.rows[0], step.cols[0], step.rows[-1], step.cols[-1], HIGHLIGHT,
                       1, "", "dot"))
    shapes.append(_box(step.out_row, step.out_col, step.out_row, step.out_col, HIGHLIGHT, 4,
                       "3"))
    figure.update_layout(shapes=shapes)
    _square(figure, 3)
    return _finish(figure, title, 460)


def activation_curves(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                      title: str = "") -> go.Figure:
    """f(x) (left) and f'(x) from autograd (right) for each activation."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("f(x)", "f′(x) (autograd)"))
    for n, (name, (x, y, dy)) in enumerate(curves.items()):
        colour = SERIES[n % len(SERIES)]
        figure.add_trace(go.Scatter(x=x, y=y, name=name, line=dict(color=colour, width=3)),
                         row=1, col=1)
        figure.add_trace(go.Scatter(x=x, y=dy, name=name, showlegend=False,
                                    line=dict(color=colour, width=3)), row=1, col=2)
    figure.update_xaxes(title_text="x", zeroline=True, zerolinecolor="#999")
    figure.update_yaxes(zeroline=True, zerolinecolor="#999", gridcolor="#eee")
    figure.update_layout(legend=dict(orientation="h", y=-0.18))
    return _finish(figure, title, 400)


def count_bars(labels: Sequence[str], conv: Sequence[int], dense: Sequence[int],
               title: str = "") -> go.Figure:
    """Conv vs fully-connected counts on a log axis, with the numbers on the bars."""
    figure = go.Figure([
        go.Bar(name="conv layer", x=list(labels), y=list(conv), marker_color=SERIES[0],
               text=[f"{v:,}" for v in conv], textposition="outside"),
        go.Bar(name="fully connected", x=list(labels), y=list(dense), marker_color=SERIES[1],
               text=[f"{v:,}" for v in dense], textposition="outside")])
    figure.update_yaxes(type="log", title_text="count (log scale)", gridcolor="#eee")
    figure.update_layout(barmode="group", legend=dict(orientation="h", y=1.08))
    return _finish(figure, title, 400)


def shift_curves(result: L.ShiftResult, title: str = "") -> go.Figure:
    figure = go.Figure()
    for n, (name, values) in enumerate((("no pooling", result.change_conv),
                                        ("max pooling", result.change_max),
                                        ("average pooling", result.change_avg))):
        figure.add_trace(go.Scatter(x=result.shifts, y=values, name=name, mode="lines+markers",
                                    line=dict(color=SERIES[n], width=3), marker=dict(size=10)))
    figure.update_xaxes(title_text="shift (pixels to the right)", dtick=1)
    figure.update_yaxes(title_text="relative change of the features", rangemode="tozero",
                        gridcolor="#eee")
    figure.update_layout(legend=dict(orientation="h", y=1.1))
    return _finish(figure, title, 400)


def receptive_growth(stacks: dict[str, list[L.RFRow]], title: str = "") -> go.Figure:
    figure = go.Figure()
    top = max(row.rf for rows in stacks.values() for row in rows)
    for n, (name, rows) in reversed(list(enumerate(stacks.items()))):
        figure.add_trace(go.Scatter(x=list(range(0, len(rows) + 1)),
                                    y=[1] + [row.rf for row in rows], name=name,
                                    mode="lines+markers+text",
                                    text=[""] + [str(row.rf) for row in rows],
                                    textposition="top center",
                                    line=dict(color=SERIES[n % len(SERIES)], width=3,
                                              dash="solid" if n == 0 else "dash"),
                                    marker=dict(size=10)))
    figure.update_xaxes(title_text="layers", dtick=1)
    figure.update_yaxes(title_text="receptive field (pixels)", range=[0, top * 1.15 + 1],
                        gridcolor="#eee")
    figure.update_layout(legend=dict(orientation="h", y=1.1))
    return _finish(figure, title, 400)


def receptive_window(size: int, rf: int, title: str = "") -> go.Figure:
    """A size x size input grid with the centre output's receptive field shaded."""
    grid = np.zeros((size, size))
    start = (size - rf) // 2
    grid[max(start, 0):start + rf, max(start, 0):start + rf] = 1
    figure = go.Figure(go.Heatmap(z=grid, colorscale=[[0, "#f5f5f5"], [1, HIGHLIGHT]],
                                  showscale=False, xgap=1, ygap=1, hoverinfo="skip"))
    _square(figure, 1)
    return _finish(figure, title, 380)


def _three(value: float) -> str:
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text


def channel_bars(names: Sequence[str], series: dict[str, np.ndarray], title: str = "") -> go.Figure:
    figure = go.Figure([go.Bar(name=label, x=list(names), y=list(values),
                               marker_color=SERIES[n % len(SERIES)],
                               text=[_three(v) for v in values], textposition="outside")
                        for n, (label, values) in enumerate(series.items())])
    figure.update_yaxes(gridcolor="#eee")
    figure.update_layout(barmode="group", legend=dict(orientation="h", y=1.1))
    return _finish(figure, title, 380)


def model_shift_curves(results: Sequence[L.ModelShift], title: str = "") -> go.Figure:
    """Left: test accuracy (solid) and unchanged predictions (dotted) against the shift.
    Right: the relative change of the features the final linear layer reads."""
    figure = make_subplots(rows=1, cols=2, column_widths=[0.58, 0.42], horizontal_spacing=0.1,
                           subplot_titles=("predictions", "change of the classifier's input"))
    for n, result in enumerate(results):
        name = f"max pool {result.pool}x{result.pool}" if result.pool > 1 else "no pooling"
        colour = SERIES[n % len(SERIES)]
        figure.add_trace(go.Scatter(x=result.shifts, y=result.accuracy, mode="lines+markers",
                                    name=f"{name}: accuracy", marker=dict(size=10),
                                    line=dict(color=colour, width=3)), row=1, col=1)
        figure.add_trace(go.Scatter(x=result.shifts, y=result.unchanged, mode="lines+markers",
                                    name=f"{name}: same prediction", marker=dict(size=8),
                                    line=dict(color=colour, width=3, dash="dot")), row=1, col=1)
        figure.add_trace(go.Scatter(x=result.shifts, y=result.feature_change,
                                    mode="lines+markers", name=f"{name}: feature change",
                                    marker=dict(size=9, symbol="square"),
                                    line=dict(color=colour, width=3, dash="dash")), row=1, col=2)
    figure.update_xaxes(title_text="shift of the test digits (pixels right)", dtick=1)
    figure.update_yaxes(title_text="fraction of 1,000 test digits", range=[0, 1.05],
                        gridcolor="#eee", row=1, col=1)
    figure.update_yaxes(title_text="relative change ‖f(shifted) − f(x)‖ / ‖f(x)‖",
                        rangemode="tozero", gridcolor="#eee", row=1, col=2)
    figure.update_layout(legend=dict(orientation="h", y=-0.25))
    return _finish(figure, title, 520)
