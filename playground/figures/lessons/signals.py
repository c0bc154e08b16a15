"""The signals lesson's figure: a 1-D signal, its filtered version and the kernel."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.lessons.layout import finish
from playground.figures.style import DEFAULT, Style


def signal_filter(x: np.ndarray, y: np.ndarray, kernel: np.ndarray, t: int,
                  correlation: np.ndarray | None = None, title: str = "",
                  style: Style = DEFAULT) -> go.Figure:
    """The signal and the filtered signal (left) with the samples that make y_t marked, and
    the kernel's taps w_1 ... w_K (right)."""
    steps = np.arange(1, len(x) + 1)
    width = style.line_width
    figure = make_subplots(rows=1, cols=2, column_widths=[0.78, 0.22], horizontal_spacing=0.08,
                           subplot_titles=("signal x and output y", "kernel w"))
    figure.add_trace(go.Scatter(x=steps, y=x, name="input x", mode="lines+markers",
                                line=dict(color=style.muted_color, width=width),
                                marker=dict(size=style.marker(5))), 1, 1)
    if correlation is not None:
        figure.add_trace(go.Scatter(x=steps, y=correlation, name="conv1d, kernel not flipped",
                                    mode="lines", line=dict(color=style.series[2],
                                                            width=1.5 * width, dash="dot")),
                         1, 1)
    figure.add_trace(go.Scatter(x=steps, y=y, name="output y (convolution)", mode="lines",
                                line=dict(color=style.series[0], width=2 * width)), 1, 1)
    taps = [t - k for k in range(len(kernel)) if t - k >= 1]
    figure.add_trace(go.Scatter(x=taps, y=[x[i - 1] for i in taps], name="samples in y_t",
                                mode="markers",
                                marker=dict(size=style.marker(13), color=style.highlight,
                                            line=dict(color=style.text_color,
                                                      width=style.thin_line_width))),
                     1, 1)
    figure.add_trace(go.Scatter(x=[t], y=[y[t - 1]], name=f"y_{t}", mode="markers",
                                marker=dict(size=style.marker(16), color=style.series[1], symbol="diamond")),
                     1, 1)
    figure.add_trace(go.Bar(x=[f"w{k}" for k in range(1, len(kernel) + 1)], y=list(kernel),
                            marker_color=style.series[0], showlegend=False,
                            text=[style.number(v) for v in kernel], textposition="outside"), 1, 2)
    figure.update_xaxes(title_text="t", row=1, col=1, gridcolor=style.grid)
    figure.update_yaxes(gridcolor=style.grid, zeroline=True, zerolinecolor=style.muted_color)
    top = max(float(np.abs(kernel).max()), 1e-9) * 1.35
    figure.update_yaxes(range=[min(0.0, float(kernel.min()) * 1.35), top], row=1, col=2)
    figure.update_layout(legend=dict(orientation="h", y=-0.2))
    return finish(figure, title, 460, style)
