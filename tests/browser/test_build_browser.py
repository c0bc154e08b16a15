"""The Build page in headless Chromium: dragging a layer, opening a share link, and
projector-sized screenshots (1280x720) of LeNet-5 and the small ResNet under out/."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from playground import share
from playground import spec as S
from playground.presets import load_preset
from tests.support import needs_data

WAIT_MS = 30_000  # a loaded 2-core machine can take seconds to settle a page

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("PLAYGROUND_ARTIFACTS", ROOT / "out"))
PROJECTOR = {"width": 1280, "height": 720}
pytestmark = [pytest.mark.browser,
              needs_data]


def _open(browser, url: str):
    page = browser.new_page(viewport=PROJECTOR)
    page.goto(url)
    page.locator("table.pg-table").first.wait_for(timeout=60_000)
    return page


def _layer_row(page, index: int) -> str:
    """The text of the architecture table's row for layer `index`."""
    row = page.locator("table.pg-table tr:not(.fx)").nth(index + 2)  # header, input
    return " ".join(row.inner_text().split())


def _drag(page, source: dict, target_x: float, target_y: float) -> None:
    """Press on `source` (a bounding box) and move in small steps, as a hand moves: the
    drag must start, and the list must see it pass over its items."""
    start_x, start_y = source["x"] + source["width"] / 2, source["y"] + source["height"] / 2
    page.mouse.move(start_x, start_y)
    page.mouse.down()
    for step in range(1, 16):
        page.mouse.move(start_x + (target_x - start_x) * step / 15,
                        start_y + (target_y - start_y) * step / 15)
        page.wait_for_timeout(40)
    page.wait_for_timeout(200)
    page.mouse.up()


def _wait_for_row(page, index: int, start: str) -> None:
    deadline = time.monotonic() + 30
    while not _layer_row(page, index).startswith(start):
        assert time.monotonic() < deadline, _layer_row(page, index)
        page.wait_for_timeout(300)


def test_dragging_a_layer_type_from_the_palette_puts_it_in_place(server, browser):
    page = _open(browser, f"{server}/build")
    items = page.frame_locator("iframe[title*='sortable']").locator(".sortable-item")
    items.first.wait_for(timeout=20_000)
    conv = items.filter(has_text="+ conv").first
    target = items.filter(has_text="2: max pool 2x2").first.bounding_box()
    _drag(page, conv.bounding_box(), target["x"] + 4, target["y"] + target["height"] / 2)
    _wait_for_row(page, 2, "2 conv 8 · 3x3 · pad 1 [8, 28, 28]")  # between layers 1 and 2
    assert _layer_row(page, 1).startswith("1 ReLU [8, 28, 28]")
    assert _layer_row(page, 3).startswith("3 max pool 2x2 [8, 14, 14]")
    assert items.filter(has_text="+ conv").count() == 1  # the palette is whole again
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "build_palette_drop.png"))
    page.close()


def test_the_panel_being_edited_stays_open(server, browser):
    """Each edit changes the panel's title; a lecturer changing K, S, P and D live must not
    have to reopen it each time."""
    page = _open(browser, f"{server}/build")
    page.locator("[data-testid='stExpander'] summary").filter(has_text="3 · conv 16").click()
    values = {"Kernel size": "5", "Stride": "2", "Padding": "2", "Dilation": "2"}
    rows = ["3 conv 16 · 5x5 · pad 1", "3 conv 16 · 5x5 · stride 2 · pad 1",
            "3 conv 16 · 5x5 · stride 2 · pad 2", "3 conv 16 · 5x5 · stride 2 · pad 2 · dilation 2"]
    for (label, value), row in zip(values.items(), rows):
        field = page.locator(f"input[aria-label='{label}']:visible")
        expect(field).to_have_count(1, timeout=WAIT_MS)
        field.fill(value)
        field.press("Enter")
        _wait_for_row(page, 3, row)
    page.wait_for_timeout(500)
    expect(page.locator("input[aria-label='Dilation']:visible")).to_have_value("2")
    page.close()


def test_dragging_a_layer_reorders_the_network(server, browser):
    page = _open(browser, f"{server}/build")
    assert _layer_row(page, 0).startswith("0 conv 8 · 3x3 · pad 1 [8, 28, 28]")
    items = page.frame_locator("iframe[title*='sortable']").locator(".sortable-item")
    items.first.wait_for(timeout=20_000)
    assert items.nth(2).inner_text() == "2: max pool 2x2"
    source, target = items.nth(2).bounding_box(), items.nth(0).bounding_box()
    start_x, y = source["x"] + source["width"] / 2, source["y"] + source["height"] / 2
    page.mouse.move(start_x, y)
    page.mouse.down()
    for step in range(1, 11):  # small steps, as a hand moves: the drag must start
        page.mouse.move(start_x + (target["x"] + 5 - start_x) * step / 10, y)
        page.wait_for_timeout(40)
    page.mouse.up()
    deadline = time.monotonic() + 30
    while not _layer_row(page, 0).startswith("0 max pool 2x2 [1, 14, 14]"):
        assert time.monotonic() < deadline, _layer_row(page, 0)
        page.wait_for_timeout(300)
    assert _layer_row(page, 1).startswith("1 conv 8 · 3x3 · pad 1 [8, 14, 14]")
    page.close()


def test_a_share_link_opens_the_same_network_and_settings(server, browser):
    lesson = load_preset("lenet5").replace(
        name="Lesson: LeNet on clothes", training=S.TrainingSpec(
            dataset="fashion-mnist", optimizer="sgd", lr=0.05, batch_size=32, epochs=4,
            seed=9, hidden_panels=["Diagnostics"]))
    page = _open(browser, share.share_url(server, lesson))
    page.get_by_text("Opened the shared lesson").first.wait_for(timeout=20_000)
    assert _layer_row(page, 0).startswith("0 conv 6 · 5x5 · pad 2 [6, 28, 28] 156")
    assert _layer_row(page, 11).startswith("11 linear 10 [10] 850")
    page.get_by_text("Network and lesson settings").first.click()
    settings = page.locator("[data-testid='stExpander']").filter(
        has_text="Network and lesson settings")
    # Widgets fill in as the page settles: wait for each value (expect retries), not once.
    expect(settings.get_by_label("Dataset")).to_have_value("fashion-mnist", timeout=WAIT_MS)
    expect(settings.get_by_label("Batch size")).to_have_value("32", timeout=WAIT_MS)
    expect(settings.get_by_label("Seed")).to_have_value("9", timeout=WAIT_MS)
    expect(settings.get_by_label("Name")).to_have_value("Lesson: LeNet on clothes",
                                                        timeout=WAIT_MS)
    assert settings.get_by_text("Diagnostics").count() >= 1
    # the same lesson is what the Train page trains
    page.get_by_role("link", name="Train").first.click()
    page.get_by_text("Train a CNN, live").first.wait_for(timeout=30_000)
    page.get_by_text("Lesson: LeNet on clothes").first.wait_for(timeout=WAIT_MS)
    expect(page.get_by_label("Batch size")).to_have_value("32", timeout=WAIT_MS)
    expect(page.get_by_label("Dataset")).to_have_value("fashion-mnist", timeout=WAIT_MS)
    page.close()


@pytest.mark.parametrize("preset", ["lenet5", "resnet_cifar10"])
def test_projector_screenshots(server, browser, preset):
    page = _open(browser, share.share_url(server, load_preset(preset)))
    page.wait_for_timeout(2500)  # the diagram and the drag list draw last
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"build_{preset}.png"))
    page.get_by_text("Shapes, parameters").first.scroll_into_view_if_needed()
    page.locator("table.pg-table summary").nth(1).click()  # layer 0's parameters
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"build_{preset}_table.png"))
    assert page.locator("tr.fx .fx-params .pg-fx").first.is_visible()
    page.close()


def test_uploading_a_bad_lesson_file_says_what_is_wrong_and_keeps_the_network(server, browser):
    page = _open(browser, f"{server}/build")
    before = _layer_row(page, 0)
    bad = {"version": 1, "name": "bad", "input": [1, 28, 28], "num_classes": 10,
           "layers": [{"type": "conv", "out_channels": 8, "kernel_size": 99}]}
    uploader = page.locator("[data-testid='stFileUploaderDropzoneInput']").first
    uploader.set_input_files({"name": "broken.lesson.json", "mimeType": "application/json",
                              "buffer": json.dumps(bad).encode()})
    message = page.get_by_text("was not opened")
    expect(message.first).to_be_visible(timeout=WAIT_MS)
    assert "broken.lesson.json" in message.first.inner_text()
    expect(page.get_by_text("layer 0 (conv): Kernel size 99 is over the limit of 11").first
           ).to_be_visible(timeout=WAIT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "build_bad_upload.png"))
    assert _layer_row(page, 0) == before  # the network on screen is unchanged
    uploader.set_input_files({"name": "notes.json", "mimeType": "application/json",
                              "buffer": b"\xff\xfe not text"})
    expect(page.get_by_text("the file is not text").first).to_be_visible(timeout=WAIT_MS)
    page.close()
