"""What several test folders share: the data marker and the browser helpers."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from playground.bench.browser import CHROMIUM, CHROMIUM_FLAGS, curve_points, free_port

ROOT = Path(__file__).resolve().parents[2]

# The real datasets come from $PLAYGROUND_DATA (../shared/data in CI).
needs_data = pytest.mark.skipif(not os.environ.get("PLAYGROUND_DATA"),
                                reason="needs PLAYGROUND_DATA")

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "ROOT", "curve_points", "free_port", "needs_data"]
