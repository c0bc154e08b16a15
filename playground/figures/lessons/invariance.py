"""The rotation-and-scale lesson's figures: trained models under warped test digits."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.lessons.grids import heatmap_trace
from playground.figures.lessons.layout import finish, square_axes
from playground.figures.style import DEFAULT, Style

if TYPE_CHECKING:
    from playground.lessons.invariance import ProbeSweep, RobustnessCurves


def _verdict_colour(right: bool, style: Style) -> str:
    """The series' green for a right prediction, the error red for a wrong one."""
    return style.series[2] if right else style.error


def robustness(curves: Sequence[RobustnessCurves], title: str = "",
               style: Style = DEFAULT) -> go.Figure:
    """Test accuracy against rotation, scale and translation, one line per model."""
    figure = make_subplots(rows=1, cols=3, horizontal_spacing=0.07, subplot_titles=(
        "rotation", "scale", "translation"), shared_yaxes=True)
    for n, curve in enumerate(curves):
        line = dict(color=style.series[n % len(style.series)], width=1.5 * style.line_width)
        for col, (xs, ys) in enumerate(((curve.angles, curve.angle_accuracy),
                                        (curve.scales, curve.scale_accuracy),
                                        (curve.shifts, curve.shift_accuracy)), start=1):
            figure.add_trace(go.Scatter(x=xs, y=ys, name=curve.name, mode="lines+markers",
                                        line=line, marker=dict(size=style.marker(8)),
                                        showlegend=col == 1, legendgroup=curve.name),
                             row=1, col=col)
    figure.update_xaxes(title_text="angle (degrees)", dtick=60, row=1, col=1)
    figure.update_xaxes(title_text="scale factor", dtick=0.25, row=1, col=2)
    figure.update_xaxes(title_text="shift (pixels right)", dtick=2, row=1, col=3)
    figure.update_yaxes(range=[0, 1.02], gridcolor=style.grid)
    figure.update_yaxes(title_text="test accuracy", row=1, col=1)
    figure.update_xaxes(gridcolor=style.grid)
    figure.update_layout(legend=dict(orientation="h", y=-0.3, x=0))
    return finish(figure, title, 480, style)


def probe_strip(sweep: ProbeSweep, label: int, unit: str, count: int = 7,
                title: str = "", style: Style = DEFAULT) -> go.Figure:
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
        figure.add_trace(heatmap_trace(sweep.images[p], signed=False, show_values=False,
                                       style=style), row=1, col=n + 1)
    square_axes(figure, len(picks))
    for n, p in enumerate(picks):
        figure.layout.annotations[n].font = dict(
            size=style.caption_size, color=_verdict_colour(sweep.predicted[p] == label, style))
    figure = finish(figure, title, 300, style)
    figure.update_layout(margin=dict(t=style.height(110 if title else 80)))  # two-line captions
    return figure


def probe_confidence(sweeps: dict[str, ProbeSweep], label: int, axis_title: str,
                     title: str = "", style: Style = DEFAULT) -> go.Figure:
    """Probability of the true class along the sweep, one line per model; each marker
    is labelled with the predicted digit."""
    figure = go.Figure()
    for n, (name, sweep) in enumerate(sweeps.items()):
        colours = [_verdict_colour(p == label, style) for p in sweep.predicted]
        figure.add_trace(go.Scatter(
            x=sweep.values, y=sweep.true_probability, name=name, mode="lines+markers+text",
            text=[str(p) for p in sweep.predicted], textposition="top center",
            textfont=dict(size=style.legend_size, color=colours),
            line=dict(color=style.series[n % len(style.series)], width=1.5 * style.line_width),
            marker=dict(size=style.marker(9))))
    figure.update_xaxes(title_text=axis_title, gridcolor=style.grid)
    figure.update_yaxes(title_text=f"P(true class {label})", range=[0, 1.12],
                        gridcolor=style.grid)
    figure.update_layout(legend=dict(orientation="h", y=1.12, x=0))
    return finish(figure, title, 400, style)
