"""What only a browser shows: the live page updating by itself while a run trains.

Drives Debian's chromium through Playwright against a real `streamlit run` server.
In CI these must run: a missing browser fails there instead of skipping.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("PLAYGROUND_ARTIFACTS", ROOT / "out"))
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.environ.get("PLAYGROUND_DATA"),
                                 reason="needs PLAYGROUND_DATA")]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "streamlit did not start"
            time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests")
        pytest.skip(f"{CHROMIUM} is missing (sudo apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"])
        yield instance
        instance.close()


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
