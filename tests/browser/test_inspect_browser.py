"""The Inspect page in a real browser: kernels change while training, a click on a feature
map draws its receptive field on the input, and a digit drawn with the mouse becomes the
probe. Screenshots go to out/.

Needs the page wired into app.py at url path "inspect"; PLAYGROUND_APP (see conftest.py)
may name another app script to run instead.
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


def _chart(page, title: str):
    return page.locator(".stPlotlyChart", has_text=title).first


def _kernel_values(page):
    chart = _chart(page, "Layer 0 conv (5x5, 1→6) kernels at step")
    # plotly draws a heatmap as one bitmap <image> whose data URL holds the pixels
    return chart.locator("g.hm image").first.get_attribute("href")


def _probe_pixels(page, title: str):
    return _chart(page, title).locator("g.hm image").first.get_attribute("href")


def _stroke(page, canvas_box, points) -> None:
    """Drag the mouse through `points` given as fractions of the canvas's width/height."""
    x0, y0, w, h = (canvas_box[k] for k in ("x", "y", "width", "height"))
    page.mouse.move(x0 + points[0][0] * w, y0 + points[0][1] * h)
    page.mouse.down()
    for start, end in zip(points, points[1:]):
        for step in range(1, 11):
            t = step / 10
            page.mouse.move(x0 + (start[0] + t * (end[0] - start[0])) * w,
                            y0 + (start[1] + t * (end[1] - start[1])) * h)
    page.mouse.up()


def _draw_a_digit_and_see_the_probe_follow(page) -> None:
    page.get_by_text("Draw", exact=True).first.click()
    # Fabric.js listens on its upper canvas; Playwright's locators pierce the shadow DOM.
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(timeout=30_000)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    _stroke(page, box, [(0.5, 0.15), (0.5, 0.85)])             # a "1"
    title = "your drawing as 28x28"
    _chart(page, title).wait_for(timeout=30_000)
    _chart(page, "Prediction:").wait_for(timeout=30_000)
    one = _poll(lambda: _probe_pixels(page, title), 30, "the drawn probe")
    _stroke(page, canvas.bounding_box(), [(0.25, 0.15), (0.75, 0.15)])  # ... now a "7"
    _poll(lambda: _probe_pixels(page, title) not in (None, one), 30,
          "the probe to follow the second stroke")
    page.screenshot(path=str(ARTIFACTS / "inspect_drawn_probe.png"), full_page=True)


def _poll(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def test_kernels_follow_training_a_click_shows_the_receptive_field_and_drawing_works(
        server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(server)
    # the first page of a fresh server imports torch: slow on a busy 2-core machine
    page.get_by_label("Load a preset network").wait_for(timeout=90_000)
    page.get_by_label("Load a preset network").click()
    page.get_by_role("option", name=re.compile("LeNet")).click()
    page.get_by_text("**LeNet-5**").or_(page.get_by_text(re.compile("^LeNet-5"))).first \
        .wait_for(timeout=30_000)
    page.get_by_role("button", name="Train").click()
    page.get_by_text(re.compile(r"^step [\d,]+ of")).first.wait_for(timeout=120_000)
    run_id = _poll(lambda: re.search(r"run=([\w-]+)", page.url), 30, "the run id").group(1)

    page.goto(f"{server}/inspect?run={run_id}")
    _chart(page, "Layer 0 conv (5x5, 1→6) kernels at step").wait_for(timeout=60_000)
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
    _draw_a_digit_and_see_the_probe_follow(page)
    page.goto(f"{server}/?run={run_id}")
    page.get_by_role("button", name="Stop").click()
    page.close()
