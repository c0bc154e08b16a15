"""Page work done off the refresh (ui.background): the page gets the newest finished
result at once and the new one with a later refresh."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from playground.ui import background


@pytest.fixture
def session(monkeypatch):
    state: dict = {}
    monkeypatch.setattr(background, "st", SimpleNamespace(session_state=state))
    return state


def gated(value, gate: threading.Event):
    def compute():
        assert gate.wait(10)
        return value
    return compute


def settle(name, series, version, compute=None):
    """Refresh until the version's result is in (as later refreshes would)."""
    deadline = time.monotonic() + 10
    while True:
        value, done = background.latest(name, series, version, compute or (lambda: None))
        if done or time.monotonic() > deadline:
            return value, done
        time.sleep(0.01)


def test_the_page_never_waits_and_gets_the_result_later(session):
    gate = threading.Event()
    started = time.perf_counter()
    assert background.latest("dead", "run", 1, gated("first", gate)) == (None, False)
    assert time.perf_counter() - started < 0.5
    gate.set()
    assert settle("dead", "run", 1) == ("first", True)


def test_a_new_version_shows_the_previous_result_until_it_is_done(session):
    assert background.latest("dead", "run", 1, lambda: "first", wait=True) == ("first", True)
    gate = threading.Event()
    assert background.latest("dead", "run", 2, gated("second", gate)) == ("first", False)
    gate.set()
    assert settle("dead", "run", 2) == ("second", True)


def test_another_series_never_sees_the_old_result(session):
    background.latest("dead", "run a", 1, lambda: "of a", wait=True)
    gate = threading.Event()
    assert background.latest("dead", "run b", 1, gated("of b", gate)) == (None, False)
    gate.set()
    assert settle("dead", "run b", 1) == ("of b", True)


def test_waiting_and_errors_come_to_the_page(session):
    assert background.latest("x", "run", 1, lambda: 42, wait=True) == (42, True)

    def broken():
        raise ValueError("no conv")

    with pytest.raises(ValueError, match="no conv"):
        background.latest("x", "run", 2, broken, wait=True)
