"""The convolution lesson's figure: the kernel on the padded input, step by step."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.lessons.grids import VALUE_LIMIT, heatmap_trace, symmetric_limit
from playground.figures.lessons.layout import finish, square_axes
from playground.figures.style import DEFAULT, Style

if TYPE_CHECKING:
    from playground.lessons.convolution import ConvSteps


def _outline(row0: float, col0: float, row1: float, col1: float, colour: str, width: float,
             axis: str, dash: str = "solid") -> dict:
    """A rectangle around grid cells (row0, col0) ... (row1, col1) of subplot `axis`."""
    return dict(type="rect", x0=col0 - 0.5, x1=col1 + 0.5, y0=row0 - 0.5, y1=row1 + 0.5,
                xref=f"x{axis}", yref=f"y{axis}", line=dict(color=colour, width=width,
                                                             dash=dash))


def conv_step(steps: ConvSteps, kernel: np.ndarray, index: int, title: str = "",
              style: Style = DEFAULT) -> go.Figure:
    """The padded input (border dashed) with the kernel's taps at step `index` outlined,
    the kernel, and the output filled in up to that step."""
    step = steps.steps[index]
    output = np.full(steps.output.shape, np.nan)
    for done in steps.steps[:index + 1]:
        output[done.out_row, done.out_col] = done.value
    figure = make_subplots(rows=1, cols=3, column_widths=[0.45, 0.22, 0.33],
                           horizontal_spacing=0.05, subplot_titles=(
                               f"input {steps.padded.shape[0] - 2 * steps.padding}x"
                               f"{steps.padded.shape[1] - 2 * steps.padding}"
                               + (f" + zero padding {steps.padding}" if steps.padding else ""),
                               f"kernel {kernel.shape[0]}x{kernel.shape[1]}",
                               f"output {steps.output.shape[0]}x{steps.output.shape[1]}"))
    figure.add_trace(heatmap_trace(steps.padded, signed=False, style=style), row=1, col=1)
    figure.add_trace(heatmap_trace(kernel, signed=True, style=style), row=1, col=2)
    out_trace = heatmap_trace(output, signed=True,
                              show_values=max(output.shape) <= VALUE_LIMIT, style=style)
    # the colour range of the whole output, so cells keep their colour as steps fill in
    limit = symmetric_limit(steps.output)
    out_trace.update(zmin=-limit, zmax=limit)
    figure.add_trace(out_trace, row=1, col=3)
    bold, thin = 1.5 * style.line_width, 0.5 * style.line_width
    shapes = []
    if steps.padding:
        p, (h, w) = steps.padding, steps.padded.shape
        shapes.append(_outline(p, p, h - p - 1, w - p - 1, style.padding_edge, bold, "",
                               "dash"))
    for r in step.rows:
        for c in step.cols:
            shapes.append(_outline(r, c, r, c, style.highlight, bold, ""))
    shapes.append(_outline(step.rows[0], step.cols[0], step.rows[-1], step.cols[-1],
                           style.highlight, thin, "", "dot"))
    shapes.append(_outline(step.out_row, step.out_col, step.out_row, step.out_col,
                           style.highlight, 2 * style.line_width, "3"))
    figure.update_layout(shapes=shapes)
    square_axes(figure, 3)
    return finish(figure, title, 460, style)
