"""The one set of fonts, colours and sizes every figure builder draws with.

Builders take a `Style` as an argument instead of reading module constants: each browser
session may choose its own (a presentation mode for a projector, say) while several
sessions render at the same time in one server process.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Style:
    # Text. Every axis sets its tick font: Streamlit's chart theme would make ticks small.
    font_family: str = "Arial, sans-serif"
    font_size: int = 15          # titles, labels, annotations
    tick_size: int = 15          # ticks, axis titles, colour-bar titles
    legend_size: int = 14
    caption_size: int = 16       # subplot captions
    note_size: int = 13          # small print inside a drawing (diagram shapes)
    text_color: str = "#1f2328"
    muted_color: str = "#57606a"
    # Lines.
    line_width: float = 2.0
    # Colour scales: RdBu for signed values (red positive, blue negative, centred on
    # zero) and Viridis for magnitudes: both colour-blind safe.
    diverging: str = "RdBu_r"
    sequential: str = "Viridis"
    # Accents.
    highlight: str = "#00c853"   # a selection or window: green reads on gray and on RdBu
    highlight_fill: str = "rgba(0,200,83,0.18)"
    winner: str = "#ffab00"      # max-pool winners
    padding_edge: str = "#ff6d00"
    error: str = "#c62828"
    grid: str = "#eee"
    series: tuple[str, ...] = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
    dashes: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
    # Numbers written into a figure.
    decimals: int = 2
    # Extra pixels on the fixed heights builders choose (bigger text needs room).
    height_scale: float = 1.0

    def font(self, size: int | None = None, color: str | None = None) -> dict:
        return dict(family=self.font_family, size=size or self.font_size,
                    color=color or self.text_color)

    def tick_font(self) -> dict:
        return self.font(self.tick_size)

    def height(self, pixels: int) -> int:
        return int(round(pixels * self.height_scale))

    def number(self, value: float) -> str:
        return f"{value:.{self.decimals}f}"


DEFAULT = Style()

