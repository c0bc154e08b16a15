"""Screenshots of the Inspect page's panels on what the network sees, for checking how
they read on a projector: starts `streamlit run app.py` on a free port, trains the default
network for a while in headless Chromium, then saves each panel (everyday and with
?present=1) as PNGs.

    PLAYGROUND_DATA=... python scripts/inspect_screenshots.py OUT_FOLDER [--preset NAME]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from playground.bench.browser import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from tests.support import streamlit_server  # noqa: E402

# panel -> the start of a chart title it draws
PANELS = {"Favourite images": "favourite images at step", "Attributions": "Saliency",
          "Adversarial noise": "ε = ", "Feature space": "Feature space at step"}
WAIT = 120_000


def _panel_shots(page, out: Path, suffix: str, size: tuple[int, int]) -> None:
    for panel in PANELS:
        page.get_by_text(panel, exact=True).first.click()
        expect(page.locator(".stPlotlyChart", has_text=PANELS[panel]).first).to_be_visible(
            timeout=WAIT)
        time.sleep(1.5)   # let plotly finish drawing
        radio = page.get_by_text(panel, exact=True).first
        radio.scroll_into_view_if_needed()
        page.mouse.wheel(0, 120)
        time.sleep(0.5)
        name = panel.lower().replace(" ", "_")
        page.screenshot(path=str(out / f"{name}{suffix}.png"))
        # and the panel further down, a screen at a time
        for n in range(1, 3):
            page.mouse.wheel(0, size[1] - 120)
            time.sleep(0.5)
            page.screenshot(path=str(out / f"{name}{suffix}_{n}.png"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--preset", default=None, help="a preset's menu name to load first")
    parser.add_argument("--train-seconds", type=float, default=8.0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    process, url = streamlit_server.launch()
    size = (1280, 720)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            page.goto(url)
            if args.preset:
                page.get_by_label("Load a preset network").wait_for(timeout=WAIT)
                page.get_by_label("Load a preset network").click()
                page.get_by_role("option", name=re.compile(args.preset)).click()
                time.sleep(2)
            train = page.get_by_role("button", name="Train")
            expect(train).to_be_enabled(timeout=WAIT)
            train.click()
            expect(page.get_by_text(re.compile(r"^step [\d,]+ of")).first).to_be_visible(
                timeout=WAIT)
            run_id = re.search(r"run=([\w-]+)", page.url).group(1)
            time.sleep(args.train_seconds)
            page.goto(f"{url}/?run={run_id}")
            page.get_by_role("button", name="Pause").click()
            page.goto(f"{url}/inspect?run={run_id}")
            _panel_shots(page, args.out, "", size)
            page.goto(f"{url}/inspect?run={run_id}&present=1")
            _panel_shots(page, args.out, "_present", size)
            page.goto(f"{url}/?run={run_id}")
            page.get_by_role("button", name="Stop").click()
            browser.close()
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:   # busy in a training step
            process.kill()


if __name__ == "__main__":
    main()
