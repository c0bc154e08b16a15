"""The Train page through Streamlit's headless AppTest: widgets, commands, live panels."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from tests.support import needs_data, shown

pytestmark = needs_data
APP = Path(__file__).resolve().parents[2] / "app.py"
TIMEOUT = 60  # importing torch alone takes about 3 s here


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def rerun_until(at: AppTest, condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        assert not at.exception, at.exception
        if condition():
            return
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


@pytest.fixture
def app():
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    yield at
    from playground.ui import runs

    if "run_id" in at.session_state:
        runs.executor().stop(at.session_state["run_id"])


def test_page_opens_ready_to_train(app):
    assert app.title[0].value == "Train a CNN, live"
    assert app.selectbox(key="preset").value is None
    assert "**MNIST fast**" in app.caption[1].value
    assert any("Press **Train**" in info.value for info in app.info)
    assert button(app, "Pause").disabled


def test_train_pause_resume_stop(app):
    button(app, "Train").click().run()
    assert not app.exception and not app.error
    rerun_until(app, lambda: metric(app, "State") == "running")
    assert metric(app, "Device") == "cpu"
    rerun_until(app, lambda: metric(app, "Images/s") != "-")
    assert len(app.get("plotly_chart")) >= 2  # curves and first-layer kernels, at least

    button(app, "Pause").click().run()
    rerun_until(app, lambda: metric(app, "State") == "paused")
    from playground.ui import runs

    trainer = runs.executor().trainer(app.session_state["run_id"])
    paused_at = trainer.step_count
    time.sleep(0.5)
    assert trainer.step_count == paused_at

    button(app, "Step").click().run()
    # until the page drawn after the step shows it done ("paused", not "stepping")
    rerun_until(app, lambda: trainer.step_count == paused_at + 1
                and metric(app, "State") == "paused")

    button(app, "Resume").click().run()
    rerun_until(app, lambda: trainer.step_count > paused_at + 5)
    button(app, "Stop").click().run()
    rerun_until(app, lambda: metric(app, "State") == "stopped")
    assert not trainer._thread.is_alive()


def test_loading_a_preset_changes_the_network_and_its_settings(app):
    app.selectbox(key="preset").select("lenet5").run()
    assert not app.exception
    assert "**LeNet-5**" in app.caption[1].value
    assert app.number_input(key="epochs-LeNet-5").value == 8
    assert app.selectbox(key="preset").value is None


def test_network_that_does_not_fit_the_dataset_is_explained(app):
    app.selectbox(key="dataset-MNIST fast").select("cifar10").run()
    button(app, "Train").click().run()
    assert not app.exception
    assert any("the spec takes [1, 28, 28] but cifar10 images are [3, 32, 32]" in shown(e.value)
               for e in app.error)
    assert "run_id" not in app.session_state


def test_offline_without_data_trains_on_the_embedded_subset(tmp_path, monkeypatch):
    import torchvision

    def no_network(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", no_network)
    monkeypatch.setenv("PLAYGROUND_DATA", str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    button(at, "Train").click().run()
    assert not at.exception and not at.error
    rerun_until(at, lambda: any("embedded MNIST subset" in w.value for w in at.warning))
    rerun_until(at, lambda: metric(at, "Images/s") != "-")
    button(at, "Stop").click().run()
    rerun_until(at, lambda: metric(at, "State") == "stopped")
