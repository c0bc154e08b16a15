"""The weight-sharing lesson's figure: conv against fully-connected counts."""
from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

from playground.figures.lessons.layout import finish
from playground.figures.style import DEFAULT, Style


def count_bars(labels: Sequence[str], conv: Sequence[int], dense: Sequence[int],
               title: str = "", style: Style = DEFAULT) -> go.Figure:
    """Conv vs fully-connected counts on a log axis, with the numbers on the bars."""
    figure = go.Figure([
        go.Bar(name="conv layer", x=list(labels), y=list(conv), marker_color=style.series[0],
               text=[f"{v:,}" for v in conv], textposition="outside"),
        go.Bar(name="fully connected", x=list(labels), y=list(dense),
               marker_color=style.series[1], text=[f"{v:,}" for v in dense],
               textposition="outside")])
    figure.update_yaxes(type="log", title_text="count (log scale)", gridcolor=style.grid)
    figure.update_layout(barmode="group", legend=dict(orientation="h", y=1.08))
    return finish(figure, title, 400, style)
