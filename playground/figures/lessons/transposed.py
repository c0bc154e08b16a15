"""The transposed-convolution lesson's figure: kernel copies landing on each output pixel."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from playground.figures.lessons.grids import heatmap_trace
from playground.figures.lessons.layout import finish, square_axes
from playground.figures.style import DEFAULT, Style


def overlap_map(counts: np.ndarray, title: str = "", style: Style = DEFAULT) -> go.Figure:
    """How many kernel copies a transposed convolution adds into each output pixel."""
    figure = go.Figure(heatmap_trace(counts, signed=False, show_values=max(counts.shape) <= 16,
                                     digits=0, style=style))
    figure.data[0].update(colorscale=style.sequential, zmin=0,
                          textfont=dict(size=style.note_size))
    square_axes(figure, 1)
    return finish(figure, title, 420, style)
