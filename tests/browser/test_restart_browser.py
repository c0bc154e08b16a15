"""Nothing is lost when the server restarts: a run trained in the browser, its server killed
with SIGKILL in the middle of an epoch, comes back on a new server from its last stored
epoch, marked interrupted; it opens on the Inspect page and trains on from there."""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.browser.test_train_browser import open_train_page, wait_until
from tests.support import needs_data, streamlit_server

pytestmark = [pytest.mark.browser, needs_data]
TRAIN_IMAGES, TEST_IMAGES = 2048, 500  # 16 steps of 128 an epoch: seconds on a CPU
STEPS_PER_EPOCH = 16


def small_mnist(source: Path, target: Path) -> Path:
    """The first images of the real MNIST as a data folder of its own (torchvision's raw
    IDX layout), so that an epoch takes seconds."""
    raw = target / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem, count in (("train-images-idx3-ubyte", TRAIN_IMAGES),
                        ("train-labels-idx1-ubyte", TRAIN_IMAGES),
                        ("t10k-images-idx3-ubyte", TEST_IMAGES),
                        ("t10k-labels-idx1-ubyte", TEST_IMAGES)):
        blob = (source / "MNIST" / "raw" / stem).read_bytes()
        ndim = blob[3]
        dims = np.frombuffer(blob, ">u4", count=ndim, offset=4).copy()
        item = int(np.prod(dims[1:]))
        dims[0] = count
        body = blob[4 + 4 * ndim:4 + 4 * ndim + count * item]
        (raw / stem).write_bytes(blob[:4] + dims.astype(">u4").tobytes() + body)
    return target


def stored_steps(state: Path) -> dict[str, tuple[str, int]]:
    """run id -> (state, step) as the server stored them, read beside the running server."""
    database = state / "runs.sqlite"
    if not database.exists():
        return {}
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT run_id, state, body FROM stored_runs").fetchall()
    return {run_id: (state, json.loads(body)["step"]) for run_id, state, body in rows}


def test_a_run_killed_with_its_server_comes_back_interrupted(browser, tmp_path):
    data = small_mnist(Path(os.environ["PLAYGROUND_DATA"]), tmp_path / "data")
    environment = {"PLAYGROUND_STATE": str(tmp_path / "state"), "PLAYGROUND_DATA": str(data)}
    first, url = streamlit_server.launch(environment)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        open_train_page(page, url)
        epochs = page.get_by_label("Epochs")
        epochs.fill("30")
        epochs.press("Enter")
        page.wait_for_timeout(500)
        page.get_by_role("button", name="Train", exact=True).click()
        page.get_by_text("running", exact=True).first.wait_for(timeout=60_000)
        run_id = re.search(r"run=([\w-]+)", page.url).group(1)
        # Two epochs stored, then killed while training a later one.
        wait_until(lambda: stored_steps(tmp_path / "state").get(run_id, ("", 0))[1]
                   >= 2 * STEPS_PER_EPOCH, timeout=120)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_state, stored_step = stored_steps(tmp_path / "state")[run_id]
        assert killed_state == "running" and stored_step % STEPS_PER_EPOCH == 0
    finally:
        if first.poll() is None:
            first.kill()

    second, url = streamlit_server.launch(environment)
    try:
        # The same browser address on the new server: the run is back as it was stored.
        page.goto(f"{url}/?run={run_id}")
        page.get_by_text("interrupted", exact=True).first.wait_for(timeout=60_000)
        epoch = stored_step // STEPS_PER_EPOCH
        page.get_by_text(f"step {stored_step:,} of").first.wait_for(timeout=30_000)
        page.get_by_text(re.compile(rf"end of epoch {epoch}")).first.wait_for(timeout=10_000)

        # Its weights open on the Inspect page.
        inspect = browser.new_page(viewport={"width": 1280, "height": 900})
        inspect.goto(f"{url}/inspect?run={run_id}")
        inspect.get_by_text(re.compile(rf"A saved run \(interrupted at step {stored_step}"))\
            .wait_for(timeout=60_000)
        inspect.get_by_text(re.compile(r"^step [\d,]+")).first.wait_for(timeout=30_000)
        inspect.close()

        # Train on from the stored epoch: a new run, starting from those weights.
        page.get_by_role("button", name=f"Train on from epoch {epoch}").click()
        page.get_by_text("running", exact=True).first.wait_for(timeout=60_000)
        wait_until(lambda: "run=" in page.url and run_id not in page.url, timeout=30)
        page.get_by_text(f"/ {30 - epoch}").first.wait_for(timeout=30_000)  # epochs left
        page.get_by_role("button", name="Stop", exact=True).click()
        page.get_by_text(re.compile("^stopped$")).first.wait_for(timeout=30_000)
        # The interrupted run is among the saved runs to compare and open again.
        page.get_by_role("radio", name="Compare runs").click()
        saved = page.get_by_label("Open a saved run")
        saved.wait_for(timeout=30_000)
        assert re.fullmatch(r"#1 .*\(interrupted\)", saved.input_value()), saved.input_value()
        page.close()
    finally:
        streamlit_server.stop(second)
