"""What several test folders share: the data marker and the browser helpers."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from playground.bench.browser import CHROMIUM, CHROMIUM_FLAGS, curve_points, free_port

ROOT = Path(__file__).resolve().parents[2]

# The real datasets come from $PLAYGROUND_DATA (../shared/data in CI).
needs_data = pytest.mark.skipif(not os.environ.get("PLAYGROUND_DATA"),
                                reason="needs PLAYGROUND_DATA")



def chart_titles(at) -> list[str]:
    """The title of every plotly chart an AppTest page drew, in order ("" when untitled)."""
    titles = []
    for chart in at.get("plotly_chart"):
        figure = json.loads(chart.proto.spec)
        text = (figure.get("layout", {}).get("title") or {}).get("text")
        titles.append(text or "")
    return titles


def shown(markdown: str) -> str:
    """What a reader sees of Markdown that escapes user text (`ui.text.plain`): the text
    without its backslash escapes."""
    return re.sub(r"\\(.)", r"\1", markdown)


__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "ROOT", "chart_titles", "curve_points", "free_port",
           "needs_data", "shown"]
