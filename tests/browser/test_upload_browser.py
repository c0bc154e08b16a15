"""Your own images, your own weights and open formats out, in headless Chromium: upload a
dataset archive, train a step on it, load weights from a file, download the ONNX file and
run it. Screenshots of the upload panel go to out/ (it must read well for a newcomer)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from playwright.sync_api import expect

from playground import checkpoint
from playground.model import build as M
from playground.presets import load_preset
from tests.support import needs_data
from tests.support.shapes_archive import shapes_files, zip_bytes

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("PLAYGROUND_ARTIFACTS", ROOT / "out"))
WAIT_MS = 60_000  # a loaded 2-core machine can take many seconds to settle a page
pytestmark = [pytest.mark.browser, needs_data]


def _uploader(page, label: str):
    """The file input of the uploader whose label is `label`."""
    widget = page.locator("[data-testid='stFileUploader']", has_text=label).first
    return widget.locator("[data-testid='stFileUploaderDropzoneInput']")


def _go(page, title: str) -> None:
    """To another page through the app's own navigation (the same Streamlit session)."""
    page.get_by_role("link", name=title).first.click()


def test_upload_a_dataset_train_a_step_load_weights_and_download_onnx(server, browser,
                                                                       tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page.goto(server)
    expect(page.get_by_label("Load a preset network")).to_be_visible(timeout=90_000)

    page.get_by_text("Your own images: upload a dataset to train on").first.click()
    _uploader(page, "A .zip of class folders").set_input_files(
        {"name": "shapes.zip", "mimeType": "application/zip",
         "buffer": zip_bytes(shapes_files(per_class=20))})
    expect(page.get_by_text(re.compile(r"3 classes, 60 images \(48 for training, 12 for "
                                       r"testing\)")).first).to_be_visible(timeout=WAIT_MS)
    decode = page.get_by_role("button", name="Decode and use upload:shapes")
    expect(decode).to_be_visible(timeout=WAIT_MS)
    decode.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "upload_panel.png"))
    decode.click()
    expect(page.get_by_text("is now a choice in the Dataset box").first).to_be_visible(
        timeout=WAIT_MS)
    expect(page.get_by_label("Dataset", exact=True).first).to_have_value("upload:shapes",
                                                                        timeout=WAIT_MS)
    gallery = page.locator(".stPlotlyChart", has_text="circle (16+4)").first
    expect(gallery).to_be_visible(timeout=WAIT_MS)
    expect(decode).to_have_count(0, timeout=WAIT_MS)  # the upload is in use: uploader empty
    gallery.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "upload_gallery.png"))

    adapt = page.get_by_role("button", name="Adapt the network to upload:shapes")
    expect(adapt).to_be_visible(timeout=WAIT_MS)
    adapt.click()
    expect(adapt).to_have_count(0, timeout=WAIT_MS)
    page.get_by_role("button", name="Step", exact=True).click()
    expect(page.get_by_text(re.compile(r"^step 1 of")).first).to_be_visible(timeout=120_000)

    # Weights from a file, for the adapted network, become a ready run Inspect shows.
    adapted = load_preset("mnist_fast").replace(num_classes=3)
    state = M.build_model(adapted, "cpu", torch.Generator().manual_seed(5)).state_dict()
    _go(page, "Inspect")
    page.get_by_text("Load trained weights from a file").first.click()
    _uploader(page, "Load trained weights for").set_input_files(
        {"name": "mine.safetensors", "mimeType": "application/octet-stream",
         "buffer": checkpoint.to_safetensors(state)})
    expect(page.get_by_text("weights loaded from the file mine.safetensors").first
           ).to_be_visible(timeout=WAIT_MS)

    # ONNX out, from the Build page's downloads; it runs in ONNX Runtime like PyTorch.
    _go(page, "Build")
    button = page.get_by_role("button", name=re.compile("Network as ONNX"))
    expect(button).to_be_visible(timeout=WAIT_MS)
    with page.expect_download(timeout=120_000) as download:
        button.click()
    path = tmp_path / "network.onnx"
    download.value.save_as(path)
    assert download.value.suggested_filename.endswith(".onnx")
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    (logits,) = session.run(None, {"images": images.numpy()})
    network = M.build_model(adapted, "cpu")
    network.load_state_dict(state)
    with torch.no_grad():
        expected = network.eval()(images).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)

    # A folder picked in the browser arrives with its relative paths: the same layout.
    for path, data in shapes_files(per_class=8, top="myshapes").items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    _go(page, "Train")
    page.get_by_text("Your own images: upload a dataset to train on").first.click()
    _uploader(page, "Or pick a folder").set_input_files(str(tmp_path / "myshapes"))
    expect(page.get_by_text(re.compile(r"upload:myshapes: 3 classes, 24 images")).first
           ).to_be_visible(timeout=WAIT_MS)
    page.close()
