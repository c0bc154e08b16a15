"""Who controls a run, through AppTest: a session that opens another browser's run address
only watches it (every button, even a forged click on a disabled one, leaves the run as it
was), the owner secret and its cookie, the liveness the registry follows, client
addresses behind proxies, and the administrator page."""
from __future__ import annotations

import ast
import re

import pytest
import torch
from streamlit.testing.v1 import AppTest

from playground.runs import server
from playground.train import trainer as T
from playground.ui import client_address, connections, ownership, pages, runs
from tests.pages.test_inspect_page import paused_run, synthetic_datasets  # noqa: F401
from tests.support import ROOT
from tests.unit.test_runs import RunView

TIMEOUT = 60
WATCH_BANNER = "watching a run started in another browser"


def _train_page() -> None:
    import streamlit as st

    from playground.ui import train_page

    st.set_page_config(layout="wide")
    train_page.render()


def _inspect_page() -> None:
    from playground.ui import inspect_page

    inspect_page.render()


def _build_page() -> None:
    from playground.ui.build import page as build_page

    build_page.render()


def _admin_page() -> None:
    from playground.ui import admin_page

    admin_page.render()


def open_page(script, run_id: str | None = None, **state) -> AppTest:
    at = AppTest.from_function(script, default_timeout=TIMEOUT)
    if run_id:
        at.query_params["run"] = run_id
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def owned_run():
    run = paused_run("lenet5", (1, 28, 28))
    yield run
    run.executor.free(run.run_id)


def observed(run: RunView) -> tuple:
    status = run.executor.status(run.run_id)
    return (status.state, status.step, status.pending_steps, status.queued, status.lr,
            status.config, status.number, run.executor.trainer(run.run_id) is run.trainer)


def banner_shown(at: AppTest) -> bool:
    return any(WATCH_BANNER in w.value.lower() for w in at.warning)


def test_a_pasted_address_shows_the_run_read_only_and_no_button_changes_it(owned_run):
    weights = owned_run.trainer.latest_weights()[1]["0.weight"].clone()
    before = observed(owned_run)
    watcher = open_page(_train_page, owned_run.run_id)
    assert banner_shown(watcher)
    assert watcher.session_state["run_owner"] != owned_run.owner
    assert "run_id" not in watcher.session_state   # never the session's own run
    assert not watcher.number_input                # no settings to change
    controls = ("Train", "Pause", "Resume", "Step", "Step epoch", "Reset", "Stop")
    assert all(b.disabled for b in watcher.button if b.label in controls)
    # Press everything, disabled or not: a forged click is what a hostile client sends.
    labels = [b.label for b in watcher.button if not b.label.startswith("Copy")]
    assert set(controls) <= set(labels)
    for label in labels:
        pressed = next(b for b in watcher.button if b.label == label)
        pressed.proto.disabled = False  # AppTest refuses disabled widgets; a forged client not
        pressed.click().run()
        assert not watcher.exception, (label, watcher.exception)
        assert observed(owned_run) == before, label
        assert banner_shown(watcher), label
    assert torch.equal(owned_run.trainer.latest_weights()[1]["0.weight"], weights)
    assert runs.executor().history(watcher.session_state["run_owner"]) == []

    # Its own copy of the network and settings, to train in its own browser.
    next(b for b in watcher.button if b.label.startswith("Copy")).click().run()
    assert not watcher.exception and not banner_shown(watcher)
    assert "run" not in watcher.query_params
    copied = watcher.session_state["spec"]
    assert copied.layers == owned_run.trainer.spec.layers
    assert copied.training.lr == owned_run.trainer.config.lr
    assert copied.training.batch_size == 32 and copied.training.epochs == 1
    assert any("press **Train**" in s.value for s in watcher.success)
    assert watcher.number_input                    # the settings are its own now
    assert observed(owned_run) == before


def test_every_command_of_the_session_glue_names_its_browser(owned_run):
    """Past the page (a stale page, a hand-made message), the executor still refuses."""
    before = observed(owned_run)

    def commands():
        import streamlit as st

        from playground.ui import runs

        run_id = st.query_params["run"]
        for command in (runs.start, runs.pause, runs.step, runs.stop, runs.reset):
            command(run_id)
            st.error(runs.pop_error())
        runs.step(run_id, epoch=True)
        st.error(runs.pop_error())
        runs.set_lr(run_id, 0.5)
        st.error(runs.pop_error())
        runs.set_augment(run_id, True)
        st.error(runs.pop_error())

    at = open_page(commands, owned_run.run_id)
    assert [e.value for e in at.error] == [
        "this run was started in another browser: only that browser can train, pause, "
        "step, stop, reset or change it"] * 8
    assert observed(owned_run) == before


def test_the_owner_keeps_control_and_a_watcher_gets_no_weights(owned_run):
    owner = open_page(_train_page, owned_run.run_id, run_owner=owned_run.owner)
    assert not banner_shown(owner) and owner.session_state["run_id"] == owned_run.run_id
    assert not next(b for b in owner.button if b.label == "Step").disabled

    build = open_page(_build_page, owned_run.run_id)
    labels = [b.label for b in build.get("download_button")]
    assert "Download lesson (.json)" in labels
    assert "Download trained weights (.pt)" not in labels
    assert any("only that browser can download its weights" in c.value for c in build.caption)
    own_build = open_page(_build_page, owned_run.run_id, run_owner=owned_run.owner)
    assert "Download trained weights (.pt)" in [
        b.label for b in own_build.get("download_button")]

    inspect = open_page(_inspect_page, owned_run.run_id)
    assert banner_shown(inspect) and inspect.get("plotly_chart")


def test_the_owner_secret_comes_from_the_cookie_and_is_written_to_it():
    first = open_page(_train_page)
    secret = first.session_state[ownership.SECRET_KEY]
    assert ownership.SECRET_PATTERN.fullmatch(secret)
    owner = first.session_state["run_owner"]
    assert owner == ownership.owner_id(secret) and secret not in owner
    again = open_page(_train_page, **{ownership.SECRET_KEY: secret})  # the same browser
    assert again.session_state["run_owner"] == owner
    other = open_page(_train_page)                                   # another browser
    assert other.session_state["run_owner"] != owner

    def cookie_writer():
        import streamlit as st

        from playground.ui import ownership

        ownership.session_owner()
        ownership.remember_in_browser()
        st.write("page")

    at = open_page(cookie_writer)
    script = at.get("html")[0].proto.body
    written = at.session_state[ownership.SECRET_KEY]
    assert f'"{ownership.COOKIE_NAME}={written}; Max-Age=' in script
    assert "Path=/" in script and "SameSite=Lax" in script
    assert at.get("html")[0].proto.unsafe_allow_javascript


def test_connected_runs_come_from_the_runtime_sessions(monkeypatch):
    from streamlit.runtime import Runtime

    class FakeRuntime:
        active = {"s1"}

        def is_active_session(self, session_id):
            return session_id in self.active

    monkeypatch.setattr(connections, "_shown", {"s1": "r1", "s2": "r2", "s3": "gone"})
    monkeypatch.setattr(Runtime, "exists", classmethod(lambda cls: False))
    assert connections.connected_runs(["r1", "r2"]) is None      # no web server here
    monkeypatch.setattr(Runtime, "exists", classmethod(lambda cls: True))
    monkeypatch.setattr(Runtime, "instance", classmethod(lambda cls: FakeRuntime()))
    assert connections.connected_runs(["r1", "r2"]) == {"r1"}
    assert connections._shown == {"s1": "r1", "s2": "r2"}       # a freed run is forgotten


def test_client_addresses_believe_forwarded_for_only_from_trusted_proxies():
    proxies = client_address.trusted_proxies("10.0.0.1, 192.168.5.0/24, not-an-address")
    assert len(proxies) == 2
    resolve = client_address.resolve
    assert resolve("203.0.113.9", "198.51.100.7", proxies) == "203.0.113.9"   # not trusted
    assert resolve("10.0.0.1", "198.51.100.7", proxies) == "198.51.100.7"
    # A client may send its own header; the proxies append, so the rightmost untrusted hop
    # is the one the trusted proxy saw.
    assert resolve("10.0.0.1", "1.2.3.4, 198.51.100.7, 192.168.5.20", proxies) == \
        "198.51.100.7"
    assert resolve("10.0.0.1", "garbage", proxies) == "10.0.0.1"
    assert resolve("10.0.0.1", None, proxies) == "10.0.0.1"
    assert resolve(None, "198.51.100.7", proxies) is None


def test_pages_command_runs_only_through_the_session_glue():
    """Every command a page gives names its browser: pages call ui.runs, not the executor."""
    commands = r"\.(start|resume|pause|step|step_epoch|stop|reset|set_lr|set_augment|free)\("
    allowed = {"runs.py", "admin_page.py"}  # the glue, and the administrator (the server)
    offenders = []
    for path in (ROOT / "playground" / "ui").rglob("*.py"):
        if path.name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and "executor" in ast.unparse(node.func) and \
                    re.search(commands, ast.unparse(node.func) + "("):
                offenders.append(f"{path.name}: {ast.unparse(node.func)}")
            if isinstance(node, ast.keyword) and node.arg == "on_click" and \
                    "executor" in ast.unparse(node.value):
                offenders.append(f"{path.name}: on_click={ast.unparse(node.value)}")
    assert offenders == []


def test_the_admin_page_exists_only_with_its_token_and_stops_any_run(owned_run, monkeypatch):
    monkeypatch.delenv("PLAYGROUND_ADMIN_TOKEN", raising=False)
    assert "Admin" not in [page.title for page in pages.app_pages()]
    monkeypatch.setenv("PLAYGROUND_ADMIN_TOKEN", "correct horse battery staple")
    assert [page.title for page in pages.app_pages()][-1] == "Admin"

    at = open_page(_admin_page)
    assert not at.get("plotly_chart") and "admin-stop-" not in str(at.button)
    token = at.text_input(key="admin-token")
    assert token.proto.type == token.proto.PASSWORD
    token.input("correct horse battery stapler")
    at.button[0].click().run()
    assert [e.value for e in at.error] == [
        "That is not the administrator token (PLAYGROUND_ADMIN_TOKEN)."]
    at.text_input(key="admin-token").input("correct horse battery staple")
    at.button[0].click().run()
    assert not at.exception and not at.error and not at.query_params
    texts = [t.value for t in at.text]
    assert owned_run.trainer.spec.name in " ".join(texts)
    assert ownership.short_owner(owned_run.owner) in texts and "paused" in texts
    assert any(t.endswith(" MB") for t in texts)
    stop = next(b for b in at.button if b.key == f"admin-stop-{owned_run.run_id}")
    stop.click().run()
    assert not at.exception
    assert owned_run.trainer.state == T.STOPPED
    assert any("Stopped #" in s.value for s in at.success)


def test_the_server_executor_follows_the_pages_connections():
    assert runs.executor() is server.executor()
    assert runs.registry().liveness is connections.connected_runs
