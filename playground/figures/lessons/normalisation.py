"""The normalisation lesson's figure: per-channel statistics before and after BatchNorm."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from playground.figures.lessons.layout import finish
from playground.figures.style import DEFAULT, Style


def _bar_number(value: float, style: Style) -> str:
    """One decimal more than the style's: a BatchNorm mean of 0.004 still shows; never
    "-0.000"."""
    text = f"{value:.{style.decimals + 1}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def channel_bars(names: Sequence[str], series: dict[str, np.ndarray], title: str = "",
                 style: Style = DEFAULT) -> go.Figure:
    """One group of bars per channel, one bar per statistic, the value written above."""
    figure = go.Figure([go.Bar(name=label, x=list(names), y=list(values),
                               marker_color=style.series[n % len(style.series)],
                               text=[_bar_number(v, style) for v in values],
                               textposition="outside")
                        for n, (label, values) in enumerate(series.items())])
    figure.update_yaxes(gridcolor=style.grid)
    figure.update_layout(barmode="group", legend=dict(orientation="h", y=1.1))
    return finish(figure, title, 380, style)
