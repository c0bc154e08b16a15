"""The Inspect page in a real browser: kernels change while training, and a click on a
feature map draws its receptive field on the input. Screenshots go to out/.

Needs the page wired into app.py at url path "inspect"; PLAYGROUND_APP (see conftest.py)
may name another app script to run instead.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("PLAYGROUND_ARTIFACTS", ROOT / "out"))
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.environ.get("PLAYGROUND_DATA"),
                                 reason="needs PLAYGROUND_DATA")]


def _chart(page, title: str):
    return page.locator(".stPlotlyChart", has_text=title).first


def _kernel_values(page):
    chart = _chart(page, "Layer 0 kernels at step")
    # plotly draws a heatmap as one bitmap <image> whose data URL holds the pixels
    return chart.locator("g.hm image").first.get_attribute("href")


def _poll(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def test_kernels_follow_training_and_a_click_shows_the_receptive_field(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(server)
    page.get_by_label("Load a preset network").click()
    page.get_by_role("option", name=re.compile("LeNet")).click()
    page.get_by_text("**LeNet-5**").or_(page.get_by_text(re.compile("^LeNet-5"))).first \
        .wait_for(timeout=30_000)
    page.get_by_role("button", name="Train").click()
    page.get_by_text(re.compile(r"^step [\d,]+ of")).first.wait_for(timeout=120_000)
    run_id = _poll(lambda: re.search(r"run=([\w-]+)", page.url), 30, "the run id").group(1)

    page.goto(f"{server}/inspect?run={run_id}")
    _chart(page, "Layer 0 kernels at step").wait_for(timeout=60_000)
    first = _kernel_values(page)
    # no clicks: only the fragment's timer can bring new weights
    _poll(lambda: _kernel_values(page) != first, 30, "the kernels to change")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "inspect_live_kernels.png"))

    # Pause (the Train page reattaches through the run id) so the map holds still for a click.
    page.goto(f"{server}/?run={run_id}")
    page.get_by_role("button", name="Pause").click()
    page.get_by_text("paused", exact=True).first.wait_for(timeout=30_000)
    page.goto(f"{server}/inspect?run={run_id}")
    page.get_by_text("Feature maps", exact=True).first.click()
    clickable = _chart(page, "click a pixel")
    clickable.wait_for(timeout=30_000)
    _chart(page, "Receptive field of (14, 14)").wait_for(timeout=30_000)
    clickable.scroll_into_view_if_needed()
    area = clickable.locator(".nsewdrag").first.bounding_box()
    # near the top-left corner: pixel (1, 1) of the 28x28 map; the window reaches the padding
    page.mouse.click(area["x"] + area["width"] * 1.5 / 28, area["y"] + area["height"] * 1.5 / 28)
    try:
        _chart(page, "Receptive field of (1, 1): 5x5 input pixels, 9 of them padding") \
            .wait_for(timeout=30_000)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "inspect_click_failure.png"))
        raise
    page.screenshot(path=str(ARTIFACTS / "inspect_receptive_field_click.png"))
    page.goto(f"{server}/?run={run_id}")
    page.get_by_role("button", name="Stop").click()
    page.close()
