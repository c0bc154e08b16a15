"""Headless Chromium as the UI benchmark and the browser tests drive it.

Debian's chromium, never a browser of Playwright's own (it cannot be downloaded offline);
the flags keep it from reaching for the network at start.
"""
from __future__ import annotations

import socket

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def curve_points(page) -> int:
    """Points of the train-loss line in the curves chart (plotly keeps them on its div)."""
    return page.evaluate("""() => {
        for (const plot of document.querySelectorAll('.js-plotly-plot')) {
            const trace = (plot._fullData || []).find(t => t.name === 'train loss');
            if (trace) return trace._length;
        }
        return -1;
    }""")
