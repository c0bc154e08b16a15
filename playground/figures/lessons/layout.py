"""The frame every lesson figure shares: square image axes and readable text."""
from __future__ import annotations

import plotly.graph_objects as go

from playground.figures.style import DEFAULT, Style, chart_layout, readable


def square_axes(figure: go.Figure, count: int) -> None:
    """Square cells and no ticks on the first `count` subplots: they show images."""
    for n in range(1, count + 1):
        suffix = "" if n == 1 else str(n)
        figure.update_layout({
            f"xaxis{suffix}": dict(showticklabels=False, showgrid=False, zeroline=False,
                                   constrain="domain"),
            f"yaxis{suffix}": dict(showticklabels=False, showgrid=False, zeroline=False,
                                   autorange="reversed", scaleanchor=f"x{suffix}",
                                   constrain="domain")})


def finish(figure: go.Figure, title: str, height: int, style: Style = DEFAULT) -> go.Figure:
    """Title, fonts, height and margins of a lesson figure built through make_subplots."""
    figure.update_layout(chart_layout(title, height, style, top=70, top_untitled=40))
    return readable(figure, style)
