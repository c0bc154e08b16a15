"""The frame every lesson figure shares: square image axes and readable text."""
from __future__ import annotations

import plotly.graph_objects as go

from playground.figures.style import DEFAULT, Style


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


def title_size(style: Style) -> int:
    """A figure title: a fifth larger than the body text (18 px at the default 15)."""
    return round(style.font_size * 1.2)


def finish(figure: go.Figure, title: str, height: int, style: Style = DEFAULT) -> go.Figure:
    """Title, fonts, height and margins; tick, legend and subplot-caption fonts are set
    explicitly because Streamlit's chart theme would make them small."""
    figure.update_layout(title=dict(text=title or None, font=style.font(title_size(style))),
                         font=style.font(), height=style.height(height), plot_bgcolor="white",
                         margin=dict(l=10, r=10, t=70 if title else 40, b=10),
                         legend_font=style.font(style.legend_size))
    figure.update_xaxes(tickfont=style.tick_font(), title_font=style.font())
    figure.update_yaxes(tickfont=style.tick_font(), title_font=style.font())
    figure.update_annotations(font_size=style.caption_size, selector=dict(xref="paper"))
    return figure
