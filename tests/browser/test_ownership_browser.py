"""A class cannot hurt itself, in real browsers against a real server: a pasted run address
gives no control, a closed tab frees its place while a hidden one keeps its run, and the
optional cap per client address holds.

Each browser context is one student's browser (its own cookies). The server here caps
active runs at 2 so that "the class is locked out" is quick to reach, caps runs per client
address at 1 (browsers on the server machine itself have no address, so only the relayed
ones below count), and has an administrator token.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.test_train_browser import STEP_TEXT, open_train_page, step_number
from tests.support import ROOT, free_port, needs_data

pytestmark = [pytest.mark.browser, needs_data]
BANNER = "You are watching a run started in another browser"
ADMIN_TOKEN = "a long token for the class server"
MAX_RUNS = 2
RELEASE_BOUND_SECONDS = 60.0
CONTROLS = ("Train", "Pause", "Resume", "Step", "Step epoch", "Reset", "Stop")


@pytest.fixture(scope="module")
def guarded_server():
    """URL of app.py served with the caps above on a free localhost port."""
    port = free_port()
    env = dict(os.environ, PLAYGROUND_MAX_RUNS=str(MAX_RUNS), PLAYGROUND_RUNS_PER_ADDRESS="1",
               PLAYGROUND_ADMIN_TOKEN=ADMIN_TOKEN)
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
         str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "streamlit did not start"
            time.sleep(0.3)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


class Relay:
    """A TCP relay that reaches the server from `source` (e.g. 127.0.0.2): the server sees
    that client address, as it would see a student's machine."""

    def __init__(self, server_url: str, source: str) -> None:
        self.target = ("127.0.0.1", int(server_url.rsplit(":", 1)[1]))
        self.source = source
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target, source_address=(self.source, 0))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def wait_until(condition, timeout: float = 60.0, every: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


def state_of(page) -> str:
    """The State metric's value."""
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="State").first
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def student(browser, url: str):
    """A new browser (its own cookies) on the Train page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    open_train_page(page, url)
    return context, page


def step_once(page, epochs: int = 60) -> None:
    """Set the epochs (so a run is long), press Step and wait for the paused step 1."""
    epochs_input = page.get_by_label("Epochs")
    epochs_input.wait_for(timeout=60_000)
    epochs_input.fill(str(epochs))
    epochs_input.press("Enter")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Step", exact=True).click()
    page.get_by_text(STEP_TEXT).first.wait_for(timeout=60_000)
    wait_until(lambda: step_number(page) == 1 and state_of(page) == "paused")


def press(page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()


def stop_if_active(page) -> None:
    """Clean up: stop the page's run, if it has one still holding a place."""
    stop = page.get_by_role("button", name="Stop", exact=True)
    if not page.is_closed() and stop.count() and stop.is_enabled():
        stop.click()
        page.wait_for_timeout(300)


def test_a_pasted_address_lets_another_browser_watch_but_never_act(guarded_server, browser):
    owner_context, owner = student(browser, guarded_server)
    watcher_context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        step_once(owner)
        address = owner.url
        assert "run=" in address
        assert any(c["name"] == "playground_owner" for c in owner_context.cookies())

        watcher = watcher_context.new_page()
        watcher.goto(address)
        watcher.get_by_text(BANNER).wait_for(timeout=60_000)
        watcher.get_by_text(STEP_TEXT).first.wait_for(timeout=60_000)
        assert step_number(watcher) == 1
        for name in CONTROLS:
            assert watcher.get_by_role("button", name=name, exact=True).is_disabled(), name
        assert not watcher.get_by_label("Learning rate").count()  # no settings to change
        # Every button the watcher can press: views of the run, nothing more.
        press(watcher, "Update now")
        watcher.get_by_role("radio", name="Compare runs").click()
        watcher.get_by_text("Runs you finish, stop or reset stay here").wait_for(timeout=30_000)
        watcher.locator('[data-testid="stTopNavLink"], [data-testid="stSidebarNavLink"]') \
            .filter(has_text="Build").first.click()
        watcher.get_by_role("heading", name="Build a CNN").wait_for(timeout=60_000)
        watcher.get_by_text("only that browser can download its weights").wait_for()
        assert not watcher.get_by_role("button", name="Download trained weights (.pt)").count()
        watcher.locator('[data-testid="stTopNavLink"], [data-testid="stSidebarNavLink"]') \
            .filter(has_text="Inspect").first.click()
        watcher.get_by_text(BANNER).wait_for(timeout=60_000)

        # The owner's run is as it was; a reload of its own browser still controls it.
        owner.reload()
        owner.get_by_text(STEP_TEXT).first.wait_for(timeout=60_000)
        assert step_number(owner) == 1 and state_of(owner) == "paused"
        assert not owner.get_by_text(BANNER).count()
        assert not owner.get_by_role("button", name="Step", exact=True).is_disabled()

        # The watcher's own copy of the network and settings.
        watcher.goto(address)
        watcher.get_by_text(BANNER).wait_for(timeout=60_000)
        watcher.get_by_role("button", name="Copy its network and settings into my session") \
            .click()
        watcher.get_by_text("press Train to train your own").wait_for(timeout=30_000)
        assert not watcher.get_by_text(BANNER).count()
        assert watcher.get_by_label("Epochs").input_value() == "60"
        # the rest of the page is redrawn after the note (the time estimate comes first)
        expect(watcher.get_by_role("button", name="Train", exact=True)).to_be_enabled(
            timeout=60_000)
        assert "run=" not in watcher.url
        owner.reload()
        owner.get_by_text(STEP_TEXT).first.wait_for(timeout=60_000)
        assert step_number(owner) == 1 and state_of(owner) == "paused"
    finally:
        stop_if_active(owner)
        owner_context.close()
        watcher_context.close()


def test_a_closed_tab_frees_its_place_and_a_hidden_one_keeps_its_run(guarded_server, browser):
    closed_context, closed = student(browser, guarded_server)
    hidden_context, hidden = student(browser, guarded_server)
    late_context, late = student(browser, guarded_server)
    try:
        for page in (closed, hidden):   # paused mid-way: each holds one of the 2 places
            step_once(page)
        closed_address = closed.url
        press(late, "Step")             # the class is full
        late.get_by_text(f"(limit {MAX_RUNS})").wait_for(timeout=30_000)

        # One tab hidden behind another (and frozen: its timers never fire), one closed.
        in_front = hidden_context.new_page()
        in_front.goto("about:blank")
        in_front.bring_to_front()
        cdp = hidden_context.new_cdp_session(hidden)
        cdp.send("Page.setWebLifecycleState", {"state": "frozen"})
        closed.close()
        gone = time.monotonic()

        def late_can_step() -> bool:
            press(late, "Step")
            late.wait_for_timeout(1000)
            return late.get_by_text(STEP_TEXT).count() > 0

        wait_until(late_can_step, timeout=RELEASE_BOUND_SECONDS + 15, every=0.5)
        freed_after = time.monotonic() - gone
        print(f"\nclosed tab to its place freed: {freed_after:.1f} s")
        assert freed_after <= RELEASE_BOUND_SECONDS

        # The administrator sees the closed tab's run released, the hidden one's held.
        admin = late_context.new_page()
        admin.goto(f"{guarded_server}/admin")
        admin.get_by_label("Administrator token").fill(ADMIN_TOKEN)
        press(admin, "Open")
        admin.get_by_text("paused, released").wait_for(timeout=30_000)
        assert admin.get_by_text("paused", exact=True).count() == 2  # hidden's and late's

        # The hidden tab comes to the front: its run kept its place, so it resumes at once
        # although the class is full again.
        cdp.send("Page.setWebLifecycleState", {"state": "active"})
        hidden.bring_to_front()
        assert step_number(hidden) == 1 and state_of(hidden) == "paused"
        press(hidden, "Resume")
        wait_until(lambda: step_number(hidden) > 1, timeout=60)
        assert not hidden.get_by_text("limit").count()
        press(hidden, "Pause")

        # The closed tab's browser comes back: records kept, control kept, note given;
        # its place is taken, so Resume says so in one line.
        back = closed_context.new_page()
        back.goto(closed_address)
        back.get_by_text(STEP_TEXT).first.wait_for(timeout=60_000)
        assert step_number(back) == 1 and state_of(back) == "paused"
        back.get_by_text("its tab was closed").wait_for()
        assert not back.get_by_text(BANNER).count()
        press(back, "Resume")
        back.get_by_text(f"(limit {MAX_RUNS})").wait_for(timeout=30_000)
    finally:
        for page in (hidden, late):
            stop_if_active(page)
        for context in (closed_context, hidden_context, late_context):
            context.close()


def test_the_cap_per_client_address(guarded_server, browser):
    relay = Relay(guarded_server, "127.0.0.2")
    first_context, first = student(browser, relay.url)
    second_context, second = student(browser, relay.url)
    try:
        step_once(first)
        press(second, "Step")
        second.get_by_text("address 127.0.0.2 already has 1 active training run(s) (limit 1 "
                           "per address)").wait_for(timeout=30_000)
        press(first, "Stop")
        first.get_by_text(re.compile("^stopped$")).first.wait_for(timeout=20_000)
        step_once(second)
    finally:
        for page in (first, second):
            stop_if_active(page)
        first_context.close()
        second_context.close()
        relay.close()
