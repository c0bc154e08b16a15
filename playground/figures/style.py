"""The one set of fonts, colours and sizes every figure builder draws with.

Builders take a `Style` as an argument instead of reading module constants: each browser
session may choose its own (a presentation mode for a projector, say) while several
sessions render at the same time in one server process.

Charts set font sizes and leave the family to the page's theme, so their text matches the
page's; drawings that place text by coordinates (the network diagram) fix the family too
(`Style.font`), since their layout assumes its widths.
"""
from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go


@dataclass(frozen=True)
class Style:
    # Text. Every axis sets its tick font: Streamlit's chart theme would make ticks small
    # and grey.
    font_family: str = "Arial, sans-serif"   # drawings only (see the module docstring)
    font_size: int = 15          # chart text: labels, annotations, hover
    title_size: int = 18
    tick_size: int = 15          # ticks, axis titles, colour-bar titles
    tick_color: str = "#333"
    legend_size: int = 14
    label_size: int = 14         # numbers in heatmap cells, captions under images
    caption_size: int = 16       # subplot captions
    caption_color: str = "#222"
    note_size: int = 13          # small print inside a drawing (diagram shapes)
    text_color: str = "#1f2328"
    muted_color: str = "#57606a"
    # Colour scales: RdBu for signed values (red positive, blue negative, centred on
    # zero) and Viridis for magnitudes: both colour-blind safe.
    diverging: str = "RdBu_r"
    sequential: str = "Viridis"
    # Accents.
    highlight: str = "#00c853"   # a selection or window: green reads on gray and on RdBu
    highlight_fill: str = "rgba(0,200,83,0.18)"
    highlight_faint: str = "rgba(0,200,83,0.08)"   # the part of a window off the image
    winner: str = "#ffab00"      # max-pool winners
    # Inferno's colours, see-through where a saliency map is low: the image stays
    # readable under it.
    heat_overlay: tuple[tuple[float, str], ...] = (
        (0.0, "rgba(0,0,4,0)"), (0.2, "rgba(87,16,110,0.35)"), (0.45, "rgba(188,55,84,0.6)"),
        (0.7, "rgba(249,142,9,0.75)"), (1.0, "rgba(252,255,164,0.9)"))
    padding_edge: str = "#ff6d00"
    error: str = "#c62828"
    grid: str = "#eee"
    # Lines: `series` for a lesson's few curves; `cycle` (Plotly's own cycle) for runs
    # and layers drawn over each other, paired with `dashes` so six or more stay apart.
    series: tuple[str, ...] = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
    cycle: tuple[str, ...] = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                              "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
    line_width: float = 2.0      # a curve; builders draw emphasis as multiples of it
    thin_line_width: float = 1.0  # outlines that must leave the picture under them visible
    dashes: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
    # Numbers written into a figure.
    decimals: int = 2
    # Scale on the fixed heights (and top margins) builders choose: bigger text needs room.
    height_scale: float = 1.0
    marker_scale: float = 1.0    # on the marker sizes builders choose

    def font(self, size: int | None = None, color: str | None = None) -> dict:
        """A drawing's font: family, size and colour all fixed."""
        return dict(family=self.font_family, size=size or self.font_size,
                    color=color or self.text_color)

    def chart_font(self) -> dict:
        return dict(size=self.font_size)

    def title_font(self) -> dict:
        return dict(size=self.title_size)

    def tick_font(self) -> dict:
        return dict(size=self.tick_size, color=self.tick_color)

    def legend_font(self) -> dict:
        return dict(size=self.legend_size)

    def caption_font(self) -> dict:
        return dict(size=self.caption_size, color=self.caption_color)

    def line_color(self, position: int) -> str:
        return self.cycle[position % len(self.cycle)]

    def dash(self, position: int) -> str:
        return self.dashes[position % len(self.dashes)]

    def height(self, pixels: int) -> int:
        return int(round(pixels * self.height_scale))

    def marker(self, pixels: float) -> int:
        return int(round(pixels * self.marker_scale))

    def number(self, value: float) -> str:
        return f"{value:.{self.decimals}f}"

    def colorbar(self, title: str, **extra) -> dict:
        """A colour bar with the tick font on its title and ticks (Streamlit's theme would
        make them small and grey)."""
        return dict(title=dict(text=title, font=self.tick_font()), tickfont=self.tick_font(),
                    thickness=20, **extra)


DEFAULT = Style()
# For a projector at 1280x720 read from the back of a lecture hall: no figure text under
# 18 px, no curve under 3 px, one decimal, and taller figures to hold the bigger text.
PRESENTATION = Style(font_size=22, title_size=26, tick_size=20, legend_size=20,
                     label_size=20, caption_size=20, note_size=18, line_width=3.5,
                     thin_line_width=1.5, decimals=1, height_scale=1.3, marker_scale=1.4)


def style_for(present: bool) -> Style:
    """The style of a session: PRESENTATION while it presents, DEFAULT otherwise."""
    return PRESENTATION if present else DEFAULT


def readable(figure: go.Figure, style: Style = DEFAULT) -> go.Figure:
    """Tick, axis-title, legend and caption sizes of `style` on every axis of a figure
    built elsewhere (through make_subplots, say). It updates a built figure, which
    validates the whole layout again: builders that write their layout as one dict put
    these fonts in that dict instead."""
    figure.update_xaxes(tickfont=style.tick_font(), title_font=style.tick_font())
    figure.update_yaxes(tickfont=style.tick_font(), title_font=style.tick_font())
    figure.update_layout(legend_font=style.legend_font())
    # size only: a lesson may colour its own captions
    figure.update_annotations(font_size=style.caption_size, selector=dict(xref="paper"))
    return figure


def chart_layout(title: str, height: int, style: Style = DEFAULT, *, key: str | None = None,
                 top: int = 50, top_untitled: int = 10) -> dict:
    """The layout every chart shares: title, chart font, height, white plot, narrow
    margins (`top` pixels above the plot with a title, `top_untitled` without); `key` is
    the uirevision that keeps a user's zoom across redraws."""
    layout = dict(title=dict(text=title or None, font=style.title_font()),
                  font=style.chart_font(), height=style.height(height), plot_bgcolor="white",
                  margin=dict(l=10, r=10, t=style.height(top if title else top_untitled),
                              b=10))
    if key is not None:
        layout["uirevision"] = key
    return layout
