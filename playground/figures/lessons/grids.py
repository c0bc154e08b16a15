"""Grids of values side by side: images in gray, signed values on the diverging scale
centred on zero; small grids (up to VALUE_LIMIT cells a side) print their numbers in the
cells so a lesson can be read off the screen."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.lessons.layout import finish, square_axes
from playground.figures.style import DEFAULT, Style

VALUE_LIMIT = 12


def symmetric_limit(values: np.ndarray) -> float:
    """The largest finite magnitude (1 when there is none): the +- range of a signed grid."""
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if finite.size else 1.0
    return top if top > 0 else 1.0


def heatmap_trace(values: np.ndarray, signed: bool, show_values: bool | None = None,
                  digits: int | None = None, style: Style = DEFAULT) -> go.Heatmap:
    """One grid: gray, or the diverging scale centred on zero when `signed`; the values
    written in the cells when `show_values` (by default: when the grid is small)."""
    values = np.asarray(values, dtype=np.float64)
    show = (max(values.shape) <= VALUE_LIMIT) if show_values is None else show_values
    digits = style.decimals if digits is None else digits
    limit = symmetric_limit(values)
    colours = dict(colorscale=style.diverging, zmid=0, zmin=-limit, zmax=limit) \
        if signed else dict(colorscale="gray")
    # Cell numbers a size below the body text, smaller still in a grid of more than 8.
    cell_size = style.font_size - (1 if max(values.shape) <= 8 else 4)
    return go.Heatmap(z=values, showscale=False, hovertemplate="row %{y}, col %{x}: "
                      "%{z:.3f}<extra></extra>",
                      texttemplate=f"%{{z:.{digits}f}}" if show else None,
                      textfont=dict(size=cell_size), **colours)


def heatmaps(arrays: Sequence[np.ndarray], titles: Sequence[str], signed: Sequence[bool],
             title: str = "", height: int = 380, show_values: bool | None = None,
             style: Style = DEFAULT) -> go.Figure:
    """Grids side by side, each with its own colour scale (gray images, signed diverging)."""
    figure = make_subplots(rows=1, cols=len(arrays), subplot_titles=list(titles),
                           horizontal_spacing=0.04)
    for n, (values, is_signed) in enumerate(zip(arrays, signed)):
        figure.add_trace(heatmap_trace(values, is_signed, show_values, style=style),
                         row=1, col=n + 1)
    square_axes(figure, len(arrays))
    return finish(figure, title, height, style)


def grids(arrays: Sequence[np.ndarray], titles: Sequence[str], signed: Sequence[bool],
          title: str = "", height: int = 380, number_format: str = ".2f",
          widths: Sequence[float] | None = None, show_values: bool = True,
          limits: Sequence[float | None] | None = None, style: Style = DEFAULT) -> go.Figure:
    """Grids side by side, each on its own colour scale (or on `limits[n]`, to show a
    difference on the scale of what it compares); small ones print their values in
    `number_format` (d3 format) when `show_values`."""
    figure = make_subplots(rows=1, cols=len(arrays), subplot_titles=list(titles),
                           horizontal_spacing=0.05, column_widths=list(widths) if widths else None)
    for n, (values, is_signed) in enumerate(zip(arrays, signed)):
        show = show_values and max(np.shape(values)) <= VALUE_LIMIT
        trace = heatmap_trace(values, is_signed, show_values=show, style=style)
        if show:
            trace.update(texttemplate=f"%{{z:{number_format}}}")
        if limits is not None and limits[n] is not None:
            trace.update(zmin=-limits[n], zmax=limits[n])
        figure.add_trace(trace, row=1, col=n + 1)
    square_axes(figure, len(arrays))
    return finish(figure, title, height, style)


def gradient_maps(maps: Sequence[np.ndarray], titles: Sequence[str], title: str = "",
                  height: int = 340, show_values: bool = False, number_format: str = ".0f",
                  limits: Sequence[float | None] | None = None,
                  style: Style = DEFAULT) -> go.Figure:
    """Signed gradient maps (red where raising the value raises the loss)."""
    return grids(maps, titles, [True] * len(maps), title, height, number_format,
                 show_values=show_values, limits=limits, style=style)
