"""The Inspect page's panels on what the network sees, in a real browser: each opens on a
training run (following it), on the time machine's first snapshot, and in presentation
mode; a click on the feature space shows that point's image. Screenshots go to
$PLAYGROUND_ARTIFACTS (default out/)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from tests.support import needs_data

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("PLAYGROUND_ARTIFACTS", ROOT / "out"))
pytestmark = [pytest.mark.browser, needs_data]

# panel -> the start of a chart title it draws (the step follows)
PANELS = {"Favourite images": "Layer 0 conv (3x3, 1→8): favourite images at step",
          "Attributions": "Integrated gradients",
          "Adversarial noise": "FGSM, ε = 0.050",
          "Feature space": "Feature space at step"}
WAIT = 90_000


def _chart(page, title: str):
    return page.locator(".stPlotlyChart", has_text=title).first


def _open_panel(page, panel: str, shot: str) -> None:
    page.get_by_text(panel, exact=True).first.click()
    expect(_chart(page, PANELS[panel])).to_be_visible(timeout=WAIT)
    expect(page.locator(".stException")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)


def _slug(panel: str) -> str:
    return panel.lower().replace(" ", "_")


def test_each_panel_follows_a_run_and_the_time_machine(server, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(server)
    train = page.get_by_role("button", name="Train")
    expect(train).to_be_enabled(timeout=WAIT)   # a fresh server imports torch first
    train.click()
    expect(page.get_by_text(re.compile(r"^step [\d,]+ of")).first).to_be_visible(timeout=WAIT)
    run_id = re.search(r"run=([\w-]+)", page.url).group(1)

    page.goto(f"{server}/inspect?run={run_id}")
    for panel in PANELS:
        _open_panel(page, panel, f"seeing_{_slug(panel)}_live")
    # following the run: the projection is redone on later weights while it trains
    expect(page.locator(".stPlotlyChart", has_text=re.compile(
        r"Feature space at step [1-9]")).first).to_be_visible(timeout=WAIT)
    # the feature space: dots selected with the mouse (a box around the middle) show one
    # of their test images
    scatter = _chart(page, "Feature space at step")
    scatter.scroll_into_view_if_needed()
    picked = page.locator(".stPlotlyChart", has_text=re.compile(r"Test image [\d,]+: “"))
    for attempt in range(3):  # a drag while the chart redraws selects nothing: again
        area = scatter.locator(".nsewdrag").first.bounding_box()
        page.mouse.move(area["x"] + area["width"] * 0.3, area["y"] + area["height"] * 0.3)
        page.mouse.down()
        page.mouse.move(area["x"] + area["width"] * 0.7, area["y"] + area["height"] * 0.7,
                        steps=10)
        page.mouse.up()
        try:
            expect(picked.first).to_be_visible(timeout=WAIT // 3)
            break
        except AssertionError:
            if attempt == 2:
                raise
    expect(page.locator(".stException")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "seeing_feature_space_selected.png"))

    # the time machine's first snapshot: every panel redraws from it
    page.goto(f"{server}/?run={run_id}")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("paused", exact=True).first).to_be_visible(timeout=WAIT)
    page.goto(f"{server}/inspect?run={run_id}")
    thumb = page.get_by_role("slider").first
    expect(thumb).to_be_visible(timeout=WAIT)
    thumb.focus()
    page.keyboard.press("Home")
    expect(page.get_by_text("· snapshot").first).to_be_visible(timeout=WAIT)
    for panel in PANELS:
        page.get_by_text(panel, exact=True).first.click()
        chart = page.locator(".stPlotlyChart", has_text=re.compile(
            re.escape(PANELS[panel]) + r"|at step 0\b")).first
        expect(chart).to_be_visible(timeout=WAIT)
    expect(_chart(page, "Feature space at step 0")).to_be_visible(timeout=WAIT)
    page.screenshot(path=str(ARTIFACTS / "seeing_feature_space_step0.png"), full_page=True)

    page.goto(f"{server}/inspect?run={run_id}&present=1")
    for panel in PANELS:
        _open_panel(page, panel, f"seeing_{_slug(panel)}_present")
    page.goto(f"{server}/?run={run_id}")
    page.get_by_role("button", name="Stop").click()
    page.close()
