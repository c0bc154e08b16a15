"""The pooling lesson's figures: how features and trained models react to shifts."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.lessons.layout import finish
from playground.figures.style import DEFAULT, Style

if TYPE_CHECKING:
    from playground.lessons.pooling import ModelShift, ShiftResult


def shift_curves(result: ShiftResult, title: str = "", style: Style = DEFAULT) -> go.Figure:
    """The relative change of the features against the shift, unpooled and pooled."""
    figure = go.Figure()
    for n, (name, values) in enumerate((("no pooling", result.change_conv),
                                        ("max pooling", result.change_max),
                                        ("average pooling", result.change_avg))):
        figure.add_trace(go.Scatter(x=result.shifts, y=values, name=name, mode="lines+markers",
                                    line=dict(color=style.series[n],
                                              width=1.5 * style.line_width),
                                    marker=dict(size=style.marker(10))))
    figure.update_xaxes(title_text="shift (pixels to the right)", dtick=1)
    figure.update_yaxes(title_text="relative change of the features", rangemode="tozero",
                        gridcolor=style.grid)
    figure.update_layout(legend=dict(orientation="h", y=1.1))
    return finish(figure, title, 400, style)


def model_shift_curves(results: Sequence[ModelShift], title: str = "",
                       style: Style = DEFAULT) -> go.Figure:
    """Left: test accuracy (solid) and unchanged predictions (dotted) against the shift.
    Right: the relative change of the features the final linear layer reads."""
    figure = make_subplots(rows=1, cols=2, column_widths=[0.58, 0.42], horizontal_spacing=0.1,
                           subplot_titles=("predictions", "change of the classifier's input"))
    width = 1.5 * style.line_width
    for n, result in enumerate(results):
        name = f"max pool {result.pool}x{result.pool}" if result.pool > 1 else "no pooling"
        colour = style.series[n % len(style.series)]
        figure.add_trace(go.Scatter(x=result.shifts, y=result.accuracy, mode="lines+markers",
                                    name=f"{name}: accuracy", marker=dict(size=style.marker(10)),
                                    line=dict(color=colour, width=width)), row=1, col=1)
        figure.add_trace(go.Scatter(x=result.shifts, y=result.unchanged, mode="lines+markers",
                                    name=f"{name}: same prediction", marker=dict(size=style.marker(8)),
                                    line=dict(color=colour, width=width, dash="dot")),
                         row=1, col=1)
        figure.add_trace(go.Scatter(x=result.shifts, y=result.feature_change,
                                    mode="lines+markers", name=f"{name}: feature change",
                                    marker=dict(size=style.marker(9), symbol="square"),
                                    line=dict(color=colour, width=width, dash="dash")),
                         row=1, col=2)
    figure.update_xaxes(title_text="shift of the test digits (pixels right)", dtick=1)
    figure.update_yaxes(title_text="fraction of 1,000 test digits", range=[0, 1.05],
                        gridcolor=style.grid, row=1, col=1)
    figure.update_yaxes(title_text="relative change ‖f(shifted) − f(x)‖ / ‖f(x)‖",
                        rangemode="tozero", gridcolor=style.grid, row=1, col=2)
    figure.update_layout(legend=dict(orientation="h", y=-0.25))
    return finish(figure, title, 520, style)
