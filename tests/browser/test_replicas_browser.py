"""A class behind a proxy: deploy/one_machine.sh starts a Ray head and worker, two web
replicas and nginx (hashing a cookie to pick each browser's replica). Three browsers train
through the proxy, each its own network with its own controls; a run's address opened on
the other replica shows it read-only, since the registry (owners, runs) is shared.

nginx comes from Debian (scripts/ensure_nginx.sh); with CI set a missing nginx fails this
test instead of skipping it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.browser.test_ownership_browser import (BANNER, CONTROLS, state_of, stop_if_active,
                                                  student, wait_until)
from tests.browser.test_train_browser import STEP_TEXT, step_number
from tests.support import ROOT, free_port, needs_data

pytestmark = [pytest.mark.browser, needs_data]
SCRIPT = ROOT / "deploy" / "one_machine.sh"


def _nginx_or_fail() -> None:
    if shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"):
        return
    if os.environ.get("CI"):
        pytest.fail("nginx is missing; CI must run the replica test (scripts/ensure_nginx.sh)")
    pytest.skip("nginx is missing (sudo apt-get install nginx)")


@pytest.fixture(scope="module")
def deployed():
    """(proxy URL, the two replicas' URLs) of the one-machine class setup."""
    pytest.importorskip("ray")
    _nginx_or_fail()
    folder = tempfile.mkdtemp(prefix="pg-deploy-")
    replicas = [free_port(), free_port()]
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env.update(PYTHON=os.environ.get("PYTHON", _python()), DEPLOY_DIR=folder,
               PROXY_PORT=str(free_port()), RAY_PORT=str(free_port()),
               REPLICA_PORTS=" ".join(map(str, replicas)),
               WORKER_CPUS="3",  # a run holds its core while paused: one per student
               PYTHONPATH=str(ROOT))
    started = subprocess.run(["bash", str(SCRIPT), "start"], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    try:
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        yield (f"http://127.0.0.1:{env['PROXY_PORT']}",
               [f"http://127.0.0.1:{port}" for port in replicas])
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, cwd=ROOT, capture_output=True,
                       timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def _python() -> str:
    import sys
    return sys.executable


def step_once(page, placed_within: float, epochs: int = 60) -> None:
    """Set the epochs (so a run is long), press Step and wait for the paused step 1."""
    epochs_input = page.get_by_label("Epochs")
    epochs_input.wait_for(timeout=60_000)
    epochs_input.fill(str(epochs))
    epochs_input.press("Enter")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Step", exact=True).click()
    page.get_by_text(STEP_TEXT).first.wait_for(timeout=60_000)
    wait_until(lambda: step_number(page) == 1 and state_of(page) == "paused",
               timeout=placed_within)


def run_of(page) -> str:
    return parse_qs(urlparse(page.url).query)["run"][0]


def test_three_browsers_train_through_the_proxy_and_another_replica_shows_a_run_read_only(
        deployed, browser):
    proxy, replicas = deployed
    students = [student(browser, proxy) for _ in range(3)]
    watcher_context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        # The first step waits for Ray to place each run (the dataset's first load into the
        # object store, a worker process per run): longer than on the thread backend.
        for _, page in students:
            step_once(page, placed_within=240)
        run_ids = [run_of(page) for _, page in students]
        assert len(set(run_ids)) == 3
        keys = {c["value"] for context, _ in students for c in context.cookies()
                if c["name"] == "playground_replica"}
        assert len(keys) == 3  # each browser has its own replica key
        for context, page in students:
            page.reload()
            page.get_by_text(STEP_TEXT).first.wait_for(timeout=60_000)
            assert step_number(page) == 1 and state_of(page) == "paused"
            assert not page.get_by_text(BANNER).count()
            expect(page.get_by_role("button", name="Step", exact=True)).to_be_enabled(
                timeout=30_000)
        # One student's address, opened straight on each replica in another browser: both
        # know the run (one of them is not the replica that made it) and neither gives
        # control of it.
        watcher = watcher_context.new_page()
        for replica in replicas:
            watcher.goto(f"{replica}/?run={run_ids[0]}")
            watcher.get_by_text(BANNER).wait_for(timeout=60_000)
            watcher.get_by_text(STEP_TEXT).first.wait_for(timeout=60_000)
            assert step_number(watcher) == 1
            for name in CONTROLS:
                assert watcher.get_by_role("button", name=name, exact=True).is_disabled(), name
    finally:
        for context, page in students:
            stop_if_active(page)
            context.close()
        watcher_context.close()
