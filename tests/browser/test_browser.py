"""What only a browser shows: the live page updating by itself while a run trains.

Drives Debian's chromium through Playwright against a real `streamlit run` server.
In CI these must run: a missing browser fails there instead of skipping.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from tests.support import needs_data

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("PLAYGROUND_ARTIFACTS", ROOT / "out"))
pytestmark = [pytest.mark.browser,
              needs_data]


def _step_number(page) -> int:
    text = page.get_by_text(re.compile(r"^step [\d,]+ of")).first.inner_text()
    return int(re.search(r"step ([\d,]+)", text).group(1).replace(",", ""))


def test_live_training_updates_without_interaction(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(server)
    page.get_by_role("button", name="Train").click()
    page.get_by_text(re.compile(r"^step [\d,]+ of")).first.wait_for(timeout=60_000)
    first = _step_number(page)
    time.sleep(2.5)   # no clicks: only the fragment's timer can move the numbers
    second = _step_number(page)
    assert second > first
    page.get_by_text(re.compile(r"Layer 0 kernels at step")).first.wait_for(timeout=20_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "train_page.png"), full_page=True)

    page.get_by_role("button", name="Pause").click()
    # "pausing" while the step in flight (maybe with a test evaluation) finishes
    page.get_by_text("paused", exact=True).first.wait_for(timeout=30_000)
    paused = _step_number(page)
    page.wait_for_timeout(1500)
    assert _step_number(page) == paused

    # A reload reattaches to the same run through the run id in the URL.
    assert "run=" in page.url
    page.reload()
    page.get_by_text(re.compile(r"^step [\d,]+ of")).first.wait_for(timeout=60_000)
    assert _step_number(page) == paused
    page.get_by_role("button", name="Stop").click()
    page.close()
