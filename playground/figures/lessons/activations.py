"""The activations lesson's figure: each function and its derivative."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.lessons.layout import finish
from playground.figures.style import DEFAULT, Style


def activation_curves(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                      title: str = "", style: Style = DEFAULT) -> go.Figure:
    """f(x) (left) and f'(x) from autograd (right) for each activation."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("f(x)", "f′(x) (autograd)"))
    width = 1.5 * style.line_width
    for n, (name, (x, y, dy)) in enumerate(curves.items()):
        colour = style.series[n % len(style.series)]
        figure.add_trace(go.Scatter(x=x, y=y, name=name, line=dict(color=colour, width=width)),
                         row=1, col=1)
        figure.add_trace(go.Scatter(x=x, y=dy, name=name, showlegend=False,
                                    line=dict(color=colour, width=width)), row=1, col=2)
    figure.update_xaxes(title_text="x", zeroline=True, zerolinecolor=style.muted_color)
    figure.update_yaxes(zeroline=True, zerolinecolor=style.muted_color, gridcolor=style.grid)
    figure.update_layout(legend=dict(orientation="h", y=-0.18))
    return finish(figure, title, 400, style)
