"""Fixtures shared by the browser tests: a real `streamlit run` server and headless chromium.

Browser tests drive Debian's chromium through Playwright (it cannot download browsers
offline). In CI a missing browser fails the run instead of skipping it.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import CHROMIUM, CHROMIUM_FLAGS, streamlit_server


@pytest.fixture(scope="session", autouse=True)
def state_folder(tmp_path_factory) -> Path:
    """Where every test's runs are stored (the `server` fixture's process inherits it),
    never the real ~/.cache."""
    folder = tmp_path_factory.mktemp("state")
    os.environ["PLAYGROUND_STATE"] = str(folder)
    return folder


@pytest.fixture(scope="module")
def server():
    """URL of app.py served by `streamlit run` on a free localhost port."""
    process, url = streamlit_server.launch()
    yield url
    streamlit_server.stop(process)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests")
        pytest.skip(f"{CHROMIUM} is missing (sudo apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()
