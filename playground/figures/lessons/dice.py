"""The dice lesson's figure: one die's distribution and the distribution of the sum."""
from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.figures.lessons.layout import finish
from playground.figures.style import DEFAULT, Style

if TYPE_CHECKING:
    from playground.lessons.dice import DiceSum


def _fraction_text(value: Fraction, denominator: int) -> str:
    return f"{round(value * denominator)}/{denominator}"


def dice_bars(die: np.ndarray, total: DiceSum, highlight: int | None = None,
              title: str = "", style: Style = DEFAULT) -> go.Figure:
    """One die's distribution (left) and the distribution of the sum (right) with each
    bar's probability over faces**dice; the sum `highlight` in the second colour."""
    denominator = total.faces ** total.dice
    figure = make_subplots(rows=1, cols=2, column_widths=[0.28, 0.72], horizontal_spacing=0.08,
                           subplot_titles=("one die: f_X = f_Y",
                                           f"sum of {total.dice} dice: f_Z = f_X * f_Y"
                                           + (" * ..." if total.dice > 2 else "")))
    faces = list(range(1, len(die) + 1))
    figure.add_trace(go.Bar(x=faces, y=list(die), marker_color=style.series[0],
                            showlegend=False, text=[f"1/{len(die)}"] * len(die),
                            textposition="outside"), 1, 1)
    colours = [style.series[1] if v == highlight else style.series[0] for v in total.values]
    figure.add_trace(go.Bar(x=total.values, y=list(total.probabilities), marker_color=colours,
                            showlegend=False, textposition="outside",
                            text=[_fraction_text(f, denominator) if len(total.values) <= 25
                                  else "" for f in total.fractions]), 1, 2)
    figure.update_xaxes(title_text="face", dtick=1, row=1, col=1)
    figure.update_xaxes(title_text="sum z", dtick=1 if len(total.values) <= 25 else 5,
                        row=1, col=2)
    figure.update_yaxes(title_text="probability", gridcolor=style.grid, row=1, col=1,
                        range=[0, float(die.max()) * 1.3])
    figure.update_yaxes(gridcolor=style.grid, row=1, col=2,
                        range=[0, float(total.probabilities.max()) * 1.2])
    return finish(figure, title, 430, style)
