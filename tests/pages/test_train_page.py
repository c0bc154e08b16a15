"""The Train page through AppTest: every control, live settings, panels, two sessions.

The page is rendered on its own (not through app.py's navigation), on a 2,000-image MNIST
subset so that runs are short and their state changes quickly.
"""
from __future__ import annotations

import dataclasses
import json
import os
import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from playground.data import datasets as D
from playground.data import shared
from playground.figures.style import PRESENTATION
from playground.train import trainer as T
from playground.ui import ownership, runs
from tests.support import needs_data
from tests.unit.test_runs import RunView

pytestmark = needs_data
TIMEOUT = 60
SUFFIX = "MNIST fast"


def train_page_script():
    import streamlit as st

    from playground.ui import train_page

    st.set_page_config(layout="wide")
    train_page.render()


@pytest.fixture(scope="module")
def small_mnist():
    dataset = D.load_dataset("mnist", limit_train=2000)
    return dataclasses.replace(dataset, test_x=dataset.test_x[:1000],
                               test_y=dataset.test_y[:1000])


@pytest.fixture
def page(small_mnist, monkeypatch):
    monkeypatch.setattr(shared, "dataset", lambda name: small_mnist)
    made = []

    def new_page(run_id=None, browser_of=None):
        """A new session; `browser_of` an earlier page makes it the same browser (its
        owner secret, which a real browser's cookie carries)."""
        at = AppTest.from_function(train_page_script, default_timeout=TIMEOUT)
        if run_id:
            at.query_params["run"] = run_id
        if browser_of is not None:
            at.session_state[ownership.SECRET_KEY] = browser_of.session_state[
                ownership.SECRET_KEY]
        at.run()
        assert not at.exception, at.exception
        made.append(at)
        return at

    yield new_page
    for at in made:
        run = trainer_run(at)
        if run is not None:
            runs.executor().free(run.run_id)


def trainer_run(at: AppTest) -> RunView | None:
    """The session's run as a test sees it (without counting as the page showing it)."""
    run_id = at.session_state["run_id"] if "run_id" in at.session_state else None
    if runs.executor().trainer(run_id) is None:
        return None
    return RunView(runs.executor(), run_id)


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def button(at, label):
    return next(b for b in at.button if b.label == label)


def group(at, key):
    return next(g for g in at.get("button_group") if g.key == key)


def charts(at):
    return at.get("plotly_chart")


def rerun_until(at, condition, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        assert not at.exception, at.exception
        if condition():
            at.run()  # the page drawn after the condition holds, not while it changed
            assert not at.exception, at.exception
            return
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_every_control_with_metrics_and_widgets(page):
    at = page()
    assert metric_names(at) == set()
    assert button(at, "Pause").disabled and button(at, "Stop").disabled
    assert not button(at, "Step").disabled and button(at, "Reset").disabled
    at.number_input(key=f"epochs-{SUFFIX}").set_value(60).run()

    button(at, "Step").click().run()                       # one batch from nothing
    trainer = trainer_run(at).trainer
    rerun_until(at, lambda: trainer.step_count == 1 and not trainer.busy)
    assert metric(at, "State") == "paused" and metric(at, "Device") == "cpu"
    assert any("step 1 of" in p.proto.text for p in at.get("progress"))

    button(at, "Step epoch").click().run()
    rerun_until(at, lambda: not trainer.busy)
    assert trainer.step_count == trainer.steps_per_epoch == 16
    assert metric(at, "Epoch") == "1.00 / 60"
    assert metric(at, "Test accuracy") != "-"

    button(at, "Resume").click().run()
    rerun_until(at, lambda: metric(at, "State") == "running")
    assert at.selectbox(key=f"dataset-{SUFFIX}").disabled     # locked while it trains
    assert not at.number_input(key=f"lr-{SUFFIX}").disabled   # ... but not these two
    at.number_input(key=f"lr-{SUFFIX}").set_value(0.002).run()
    assert trainer._lr_scale == pytest.approx(0.2)  # one-cycle: the whole schedule rescales
    at.toggle(key=f"augment-{SUFFIX}").set_value(True).run()
    assert trainer.config.augment
    rerun_until(at, lambda: metric(at, "Images/s") != "-")

    button(at, "Pause").click().run()
    rerun_until(at, lambda: metric(at, "State") == "paused" and not trainer.busy)
    paused_at = trainer.step_count
    time.sleep(0.3)
    assert trainer.step_count == paused_at

    button(at, "Stop").click().run()
    assert metric(at, "State") == "stopped" and not trainer._thread.is_alive()
    assert not at.selectbox(key=f"dataset-{SUFFIX}").disabled

    button(at, "Reset").click().run()
    assert metric(at, "State") == "ready" and trainer.step_count == 0
    assert any("step 0 of" in p.proto.text for p in at.get("progress"))
    # The lr on screen (0.002) is not the one the run was made with: Train makes a new run.
    button(at, "Train").click().run()
    rerun_until(at, lambda: trainer_run(at).trainer.step_count > 0)
    assert trainer_run(at).trainer is not trainer
    assert trainer_run(at).trainer.config.lr == pytest.approx(0.002)
    button(at, "Stop").click().run()
    button(at, "Reset").click().run()
    reset = trainer_run(at).trainer
    button(at, "Train").click().run()                        # same settings: trains it again
    rerun_until(at, lambda: reset.step_count > 0)
    assert trainer_run(at).trainer is reset
    button(at, "Stop").click().run()


def metric_names(at):
    return {m.label for m in at.metric}


def test_panels_show_predictions_diagnostics_and_compared_runs(page):
    at = page()
    at.number_input(key=f"epochs-{SUFFIX}").set_value(2).run()
    button(at, "Train").click().run()
    trainer = trainer_run(at).trainer
    rerun_until(at, lambda: trainer.state == T.FINISHED)
    assert metric(at, "State") == "finished"
    assert any("Finished" in s.value for s in at.success)

    assert {c.proto.id for c in charts(at)}  # curves, kernels, confusion matrix
    assert len(charts(at)) == 3
    group(at, "curve_axis").set_value("epoch").run()
    assert len(charts(at)) == 3 and not at.exception

    group(at, "panel").set_value("Test images").run()
    assert any("test images wrong" in m.value for m in at.markdown)
    at.toggle(key="gallery-mistakes").set_value(True).run()
    at.selectbox(key="gallery-class").select("7").run()
    assert not at.exception
    button(at, "Update now").click().run()
    assert not at.exception

    group(at, "panel").set_value("Diagnostics").run()
    assert len(charts(at)) == 4  # curves, kernels, norms, dead filters

    # A second run with another optimizer, then both overlaid.
    at.selectbox(key=f"optimizer-{SUFFIX}").select("sgd").run()
    button(at, "Train").click().run()
    second = trainer_run(at).trainer
    assert second is not trainer and second.config.optimizer == "sgd"
    rerun_until(at, lambda: second.state == T.FINISHED)
    group(at, "panel").set_value("Compare runs").run()
    compare = charts(at)[-1]
    import json

    names = {trace.get("name") for trace in json.loads(compare.proto.spec)["data"]}
    assert any("sgd" in name and "(this run)" in name for name in names)
    assert any("adam" in name for name in names)
    assert len(at.dataframe) == 1


def test_two_sessions_keep_separate_runs_and_share_the_cpu_in_turn(page):
    first, second = page(), page()
    for at, lr in ((first, 0.01), (second, 0.0005)):
        at.number_input(key=f"epochs-{SUFFIX}").set_value(60).run()
        at.number_input(key=f"lr-{SUFFIX}").set_value(lr).run()
        button(at, "Train").click().run()
    one, two = trainer_run(first), trainer_run(second)
    assert one.run_id != two.run_id and one.owner != two.owner
    # One CPU slot: the second session waits in line and says where it stands.
    assert metric(first, "State") == "running"
    assert metric(second, "State") == "queued (1 of 1)"
    assert any("number 1 in line" in i.value for i in second.info)
    button(first, "Pause").click().run()
    rerun_until(second, lambda: metric(second, "State") == "running", timeout=30)

    runs.registry().slots["cpu"] = 2
    try:
        rerun_until(first, lambda: not button(first, "Resume").disabled)
        button(first, "Resume").click().run()
        rerun_until(first, lambda: one.trainer.state == T.RUNNING)
        rerun_until(second, lambda: len(two.trainer.eval_records) >= 2
                    and len(one.trainer.eval_records) >= 2)
        assert two.trainer.state == T.RUNNING  # both at once now
        assert one.trainer.config.lr == 0.01 and two.trainer.config.lr == 0.0005
        first.run()
        second.run()
        assert metric(first, "Test accuracy") != metric(second, "Test accuracy") or \
            one.trainer.eval_records != two.trainer.eval_records
    finally:
        runs.registry().slots["cpu"] = 1


def test_a_reload_reattaches_through_the_url(page):
    at = page()
    at.number_input(key=f"epochs-{SUFFIX}").set_value(60).run()
    button(at, "Step").click().run()
    run = trainer_run(at)
    rerun_until(at, lambda: run.trainer.step_count == 1 and not run.trainer.busy)
    assert at.query_params["run"] == [run.run_id] or at.query_params["run"] == run.run_id
    reloaded = page(run_id=run.run_id, browser_of=at)
    assert trainer_run(reloaded).trainer is run.trainer
    assert reloaded.session_state["run_owner"] == at.session_state["run_owner"]
    assert metric(reloaded, "State") == "paused"
    assert any("step 1 of" in p.proto.text for p in reloaded.get("progress"))


def test_a_lesson_can_hide_panels(page):
    from playground import spec as S
    from playground.presets import load_preset

    lesson = load_preset("mnist_fast")
    lesson = lesson.replace(training=S.TrainingSpec(
        dataset="mnist", epochs=1, hidden_panels=["Diagnostics", "Compare runs"]))
    at = AppTest.from_function(train_page_script, default_timeout=TIMEOUT)
    at.session_state["spec"] = lesson
    at.run()
    button(at, "Train").click().run()
    trainer = trainer_run(at).trainer
    rerun_until(at, lambda: trainer.state == T.FINISHED)
    assert list(group(at, "panel").options) == ["Confusion matrix", "Test images"]
    runs.registry().remove(trainer_run(at).run_id)


def _chart_fonts(at: AppTest) -> set[int]:
    return {json.loads(chart.proto.spec)["layout"]["font"]["size"] for chart in charts(at)}


def test_presenting_draws_every_panel_in_the_presentation_style(page, small_mnist):
    at = AppTest.from_function(train_page_script, default_timeout=TIMEOUT)
    at.query_params["present"] = "1"
    at.run()
    at.toggle(key=f"augment-{SUFFIX}").set_value(True).run()  # its example images too
    button(at, "Step epoch").click().run()
    trainer = trainer_run(at).trainer
    try:
        rerun_until(at, lambda: trainer.step_count == trainer.steps_per_epoch
                    and not trainer.busy)
        for panel in ("Confusion matrix", "Test images", "Diagnostics", "Compare runs"):
            group(at, "panel").set_value(panel).run()
            assert not at.exception, at.exception
            assert len(charts(at)) >= 3 and _chart_fonts(at) == {PRESENTATION.font_size}, panel
    finally:
        runs.executor().free(trainer_run(at).run_id)


def curve_figure(at) -> dict:
    import json

    return json.loads(next(c for c in charts(at) if "Loss" in c.proto.spec).proto.spec)


def test_before_train_the_page_says_how_long_training_takes(page):
    import re

    at = page()
    estimate = next(c.value for c in at.caption if c.value.startswith("Training time"))
    assert re.search(r"about \*\*[\d.]+ (s|min \d+ s)\*\* of training for 2 epochs "
                     r"\(measured on this CPU", estimate), estimate
    at.number_input(key=f"epochs-{SUFFIX}").set_value(4).run()
    assert any("for 4 epochs" in c.value for c in at.caption)


def test_a_finished_run_says_what_finished(page):
    import re

    at = page()
    at.number_input(key=f"epochs-{SUFFIX}").set_value(1).run()
    button(at, "Train").click().run()
    trainer = trainer_run(at).trainer
    rerun_until(at, lambda: trainer.state == T.FINISHED)
    text = next(s.value for s in at.success)
    accuracy = f"{trainer.eval_records[-1].test_acc:.1%}"
    assert re.fullmatch(rf"Finished 1 epoch: {re.escape(accuracy)} test accuracy after "
                        r"[\d.]+ s of training\.", text), text


def test_one_step_draws_a_curve_point(page):
    at = page()
    button(at, "Step").click().run()
    trainer = trainer_run(at).trainer
    rerun_until(at, lambda: trainer.step_count == 1 and not trainer.busy)
    loss = next(t for t in curve_figure(at)["data"] if t["name"] == "train loss")
    assert point_count(loss["x"]) == 1


def point_count(values) -> int:
    """Plotly's JSON holds an array as a list or as base64 bytes of a numpy dtype."""
    if isinstance(values, dict):
        import base64

        import numpy as np
        return len(np.frombuffer(base64.b64decode(values["bdata"]), values["dtype"]))
    return len(values)


def test_learning_rate_changes_are_marked_and_compared(page):
    at = page()
    at.number_input(key=f"epochs-{SUFFIX}").set_value(60).run()
    button(at, "Step").click().run()
    trainer = trainer_run(at).trainer
    rerun_until(at, lambda: trainer.step_count == 1 and not trainer.busy)
    at.number_input(key=f"lr-{SUFFIX}").set_value(0.002).run()
    button(at, "Step").click().run()
    rerun_until(at, lambda: trainer.step_count == 2 and not trainer.busy)
    layout = curve_figure(at)["layout"]
    assert [shape["x0"] for shape in layout["shapes"]] == [2, 2]  # both panels
    assert any(a["text"] == "lr 0.002" for a in layout["annotations"])
    group(at, "panel").set_value("Compare runs").run()
    assert at.dataframe[0].value["lr"][0] == "0.01, 0.002 at step 2"
    button(at, "Stop").click().run()


def test_the_dataset_loads_in_the_background_and_train_waits_for_that_load(
        small_mnist, monkeypatch):
    """Opening the page starts loading its dataset without waiting for it; Train pressed
    meanwhile waits for that same load (one load) and then trains."""
    monkeypatch.setattr(shared, "_loaded", type(shared._loaded)())
    monkeypatch.setattr(shared, "_pending", {})
    monkeypatch.setattr(shared, "_preloads", {})
    release, calls = threading.Event(), []

    def slow_load(name, data_dir, *, progress=None):
        calls.append(name)
        progress("Reading mnist", 0.5)
        assert release.wait(30)
        return small_mnist

    monkeypatch.setattr(D, "load_dataset", slow_load)
    at = AppTest.from_function(train_page_script, default_timeout=TIMEOUT)
    at.run()
    try:
        assert not at.exception, at.exception
        assert shared.loading("mnist") and not release.is_set()  # drawn while it loads
        threading.Timer(1.0, release.set).start()
        button(at, "Train").click().run()
        rerun_until(at, lambda: trainer_run(at) is not None
                    and trainer_run(at).trainer.step_count > 0)
        assert calls == ["mnist"]  # the press waited for the preload: loaded once
    finally:
        release.set()
        if trainer_run(at) is not None:
            runs.executor().free(trainer_run(at).run_id)
        assert shared.wait_for_preloads(10)
