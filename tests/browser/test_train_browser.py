"""The Train page in headless Chromium: live panels advance by themselves, the page stays
clickable while it trains, and the screenshots a teacher would project are saved."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from tests.support import curve_points  # the loss curve's points, read in the page
from tests.support import needs_data

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("PLAYGROUND_ARTIFACTS", ROOT / "out"))
STEP_TEXT = re.compile(r"^step [\d,]+ of")
pytestmark = [pytest.mark.browser,
              needs_data]


def step_number(page) -> int:
    text = page.get_by_text(STEP_TEXT).first.inner_text()
    return int(re.search(r"step ([\d,]+)", text).group(1).replace(",", ""))


def open_train_page(page, server: str) -> None:
    """The Train page, whether it is the app's default page or one entry of several."""
    page.goto(server)
    title = page.get_by_role("heading", name="Train a CNN, live")
    navigation = page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Train")
    title.or_(navigation).first.wait_for(timeout=60_000)
    if not title.count():
        navigation.first.click()
    title.wait_for(timeout=60_000)


def full_page_screenshot(page, path: Path) -> None:
    """Streamlit scrolls inside its main section, not the document: grow the viewport."""
    viewport = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": max(height, 720)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(viewport)


def wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.25)


def test_train_page_lives_while_staying_clickable(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    open_train_page(page, server)
    epochs = page.get_by_label("Epochs")
    epochs.wait_for(timeout=60_000)
    epochs.fill("4")
    epochs.press("Enter")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(STEP_TEXT).first.wait_for(timeout=60_000)
    wait_until(lambda: curve_points(page) >= 2, timeout=60)

    # Across refreshes, with no clicks: only the fragment's timer can move these.
    seen = [(step_number(page), curve_points(page))]
    for _ in range(2):
        wait_until(lambda: step_number(page) > seen[-1][0] and curve_points(page) > seen[-1][1])
        seen.append((step_number(page), curve_points(page)))

    # Still clickable while it trains: switch the panel and the curve axis.
    page.get_by_role("radio", name="Diagnostics").click()
    page.get_by_text("Weight and gradient norms per layer").wait_for(timeout=20_000)
    page.get_by_role("radio", name="epoch", exact=True).click()
    page.get_by_text("Dead filters").first.wait_for(timeout=20_000)
    assert step_number(page) >= seen[-1][0]

    page.get_by_role("radio", name="Test images").click()
    page.get_by_text(re.compile(r"test images wrong")).wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTo(0, 0)")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "train_page_1280x720.png"))
    full_page_screenshot(page, ARTIFACTS / "train_page_full.png")

    page.get_by_role("button", name="Pause", exact=True).click()
    page.get_by_text("paused", exact=True).first.wait_for(timeout=30_000)
    paused = step_number(page)
    page.wait_for_timeout(1500)
    assert step_number(page) == paused

    # A reload reattaches to the same run through the run id in the URL.
    assert "run=" in page.url
    page.reload()
    page.get_by_text(STEP_TEXT).first.wait_for(timeout=60_000)
    assert step_number(page) == paused
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text(re.compile("^stopped$")).first.wait_for(timeout=20_000)
    page.close()


def test_the_train_address_opens_the_train_page(server, browser):
    """/train was "Page not found" with a fallback to the root: Streamlit gives its default
    page the root address whatever its url_path."""
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(server.rstrip("/") + "/train")
    page.get_by_role("heading", name="Train a CNN, live").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # the not-found dialog comes after the first run
    assert not page.get_by_text("Page not found").count()
    assert page.url.rstrip("/").endswith("/train")


@pytest.fixture(scope="module")
def small_data_server(tmp_path_factory):
    """A server whose data folder is empty: MNIST is the embedded 4,000-image subset, so
    a whole epoch trains in seconds."""
    from tests.support import streamlit_server
    process, url = streamlit_server.launch(
        {"PLAYGROUND_DATA": str(tmp_path_factory.mktemp("no-data"))})
    yield url
    streamlit_server.stop(process)


def test_the_curves_stay_put_from_train_to_finished(small_data_server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    open_train_page(page, small_data_server)
    epochs = page.get_by_label("Epochs")
    epochs.wait_for(timeout=60_000)
    epochs.fill("1")
    epochs.press("Enter")
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Train", exact=True).click()
    # The loss/accuracy chart (its box: the key's element may be laid out as contents)
    curves = page.locator(".st-key-curves .stPlotlyChart").first
    curves.wait_for(timeout=90_000)
    page.wait_for_timeout(1000)
    started = curves.bounding_box()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "train_page_training.png"))
    page.get_by_text(re.compile(r"^Finished 1 epoch: ")).wait_for(timeout=120_000)
    page.wait_for_timeout(2000)  # the whole page is drawn again when a run ends
    curves.wait_for(state="visible", timeout=30_000)
    finished = curves.bounding_box()
    page.screenshot(path=str(ARTIFACTS / "train_page_finished.png"))
    assert abs(finished["y"] - started["y"]) <= 10, (started, finished)
    page.close()
