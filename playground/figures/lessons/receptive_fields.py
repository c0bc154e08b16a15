"""The receptive-field lesson's figures: growth per layer, and the window it covers."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from playground.figures.lessons.layout import finish, square_axes
from playground.figures.style import DEFAULT, Style

if TYPE_CHECKING:
    from playground.lessons.receptive_fields import RFRow


def receptive_growth(stacks: dict[str, list[RFRow]], title: str = "",
                     style: Style = DEFAULT) -> go.Figure:
    """The receptive field after each layer, one line per stack (the first solid)."""
    figure = go.Figure()
    top = max(row.rf for rows in stacks.values() for row in rows)
    for n, (name, rows) in reversed(list(enumerate(stacks.items()))):
        figure.add_trace(go.Scatter(x=list(range(0, len(rows) + 1)),
                                    y=[1] + [row.rf for row in rows], name=name,
                                    mode="lines+markers+text",
                                    text=[""] + [str(row.rf) for row in rows],
                                    textposition="top center",
                                    line=dict(color=style.series[n % len(style.series)],
                                              width=1.5 * style.line_width,
                                              dash="solid" if n == 0 else "dash"),
                                    marker=dict(size=style.marker(10))))
    figure.update_xaxes(title_text="layers", dtick=1)
    figure.update_yaxes(title_text="receptive field (pixels)", range=[0, top * 1.15 + 1],
                        gridcolor=style.grid)
    figure.update_layout(legend=dict(orientation="h", y=1.1))
    return finish(figure, title, 400, style)


def receptive_window(size: int, rf: int, title: str = "", style: Style = DEFAULT) -> go.Figure:
    """A size x size input grid with the centre output's receptive field shaded."""
    grid = np.zeros((size, size))
    start = (size - rf) // 2
    grid[max(start, 0):start + rf, max(start, 0):start + rf] = 1
    figure = go.Figure(go.Heatmap(z=grid, colorscale=[[0, style.grid], [1, style.highlight]],
                                  showscale=False, xgap=1, ygap=1, hoverinfo="skip"))
    square_axes(figure, 1)
    return finish(figure, title, 380, style)
