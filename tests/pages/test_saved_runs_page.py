"""Saved runs on the Train and Inspect pages through AppTest: a run the server was killed in
comes back interrupted and trains on; a saved run opens again with no run in the session;
the page says when the store evicted one. Each test has its own executor and store."""
from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest

from playground import spec as S
from playground.data import shared
from playground.model import build as M
from playground.presets import load_preset
from playground.runs import LocalExecutor, SqliteStore, StoreBounds, StoredRun
from playground.train import trainer as T
from playground.train.records import EpochRecord, EvalRecord, RunProgress, StepRecord
from playground.ui import runs
from tests.pages.test_train_page import (SUFFIX, TIMEOUT, button, group, metric, rerun_until,
                                         small_mnist, train_page_script)  # noqa: F401
from tests.support import needs_data

pytestmark = needs_data
STEPS_PER_EPOCH = 16  # small_mnist: 2,000 images in batches of 128 (the preset's)


def inspect_page_script():
    from playground.ui import inspect_page

    inspect_page.render()


@pytest.fixture
def executor_at(small_mnist, monkeypatch, tmp_path):
    """`executor_at(bounds)`: the pages' executor, over a store of its own in tmp_path."""
    made = []
    monkeypatch.setattr(shared, "dataset", lambda name: small_mnist)

    def make(bounds: StoreBounds = StoreBounds()) -> LocalExecutor:
        executor = LocalExecutor(store=SqliteStore(tmp_path, bounds),
                                 load_dataset=lambda name: small_mnist, sweep_seconds=0.05)
        monkeypatch.setattr(runs, "executor", lambda: executor)
        made.append(executor)
        return executor

    yield make
    for executor in made:
        executor.close()


def killed_mid_run(folder, owner: str, epochs_done: int = 1) -> StoredRun:
    """A run the way a killed server left it: stored at an epoch end while running."""
    model_spec = load_preset("mnist_fast")
    config = S.resolve_training(model_spec.training, dataset="mnist", epochs=3)
    step = epochs_done * STEPS_PER_EPOCH
    progress = RunProgress(step, 2.0, [StepRecord(step, epochs_done, 0.4, 0.9, 0.001, 800.0, 2.0)],
                           [EvalRecord(step, epochs_done, 0.3, 0.91, 2.0)],
                           [EpochRecord(epochs_done, 0.4, 0.9, 0.91, 800.0, 2.0, 2.5)])
    stored = StoredRun("killed-run", 1, owner, model_spec, config, "mnist", "cpu", T.RUNNING,
                       "", STEPS_PER_EPOCH, progress)
    weights = M.build_model(model_spec, "cpu", torch.Generator().manual_seed(5)).state_dict()
    dead_server = SqliteStore(folder)
    dead_server.save_run(stored, weights)
    dead_server.close()
    return stored


def test_a_run_killed_with_the_server_comes_back_interrupted_and_trains_on(executor_at,
                                                                          tmp_path):
    stored = killed_mid_run(tmp_path, "owner-a")
    executor = executor_at()  # the server started again
    at = AppTest.from_function(train_page_script, default_timeout=TIMEOUT)
    at.query_params["run"] = stored.run_id  # the browser's address, from before the restart
    # the same browser: its owner (from the secret its cookie carries) made the run
    at.session_state["run_owner"] = "owner-a"
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["run_owner"] == "owner-a"
    assert metric(at, "State") == "interrupted"
    assert any("end of epoch 1" in w.value for w in at.warning), [w.value for w in at.warning]
    assert any(f"step {STEPS_PER_EPOCH} of" in p.proto.text for p in at.get("progress"))

    inspect = AppTest.from_function(inspect_page_script, default_timeout=TIMEOUT)
    inspect.session_state["run_id"] = stored.run_id
    inspect.session_state["run_owner"] = "owner-a"
    inspect.run()
    assert not inspect.exception, inspect.exception
    assert any("A saved run (interrupted at step 16)" in c.value for c in inspect.caption)

    button(at, "Train on from epoch 1").click().run()
    assert not at.exception, at.exception
    on = at.session_state["run_id"]
    assert on != stored.run_id
    trainer = executor.trainer(on)
    assert trainer.config.epochs == 2  # the epochs that were left
    rerun_until(at, lambda: trainer.step_count > 0)
    executor.stop(on)
    group(at, "panel").set_value("Compare runs").run()
    assert any("(interrupted)" in str(option) for s in at.selectbox for option in s.options)


def test_a_saved_run_opens_again_from_a_new_session(executor_at):
    executor = executor_at()
    at = AppTest.from_function(train_page_script, default_timeout=TIMEOUT)
    at.run()
    at.number_input(key=f"epochs-{SUFFIX}").set_value(1).run()
    button(at, "Train").click().run()
    run_id, owner = at.session_state["run_id"], at.session_state["run_owner"]
    trainer = executor.trainer(run_id)
    rerun_until(at, lambda: trainer.state == T.FINISHED)
    executor.free(run_id)

    # Another tab of the same browser (the same owner), with no run of its own.
    other = AppTest.from_function(train_page_script, default_timeout=TIMEOUT)
    other.session_state["run_owner"] = owner
    other.run()
    chooser = next(s for s in other.selectbox if s.label == "Open a saved run")
    assert any("#1 MNIST fast" in option and "(finished)" in option
               for option in chooser.options), chooser.options
    button(other, "Open").click().run()
    assert not other.exception, other.exception
    assert other.session_state["run_id"] == run_id
    assert metric(other, "State") == "finished"
    assert any("Opened from your saved runs" in c.value for c in other.caption)


def test_the_page_says_when_a_saved_run_was_evicted(executor_at):
    executor = executor_at(StoreBounds(runs_per_owner=1))
    at = AppTest.from_function(train_page_script, default_timeout=TIMEOUT)
    at.run()
    at.number_input(key=f"epochs-{SUFFIX}").set_value(1).run()
    button(at, "Train").click().run()
    first = executor.trainer(at.session_state["run_id"])
    rerun_until(at, lambda: first.state == T.FINISHED)
    at.selectbox(key=f"optimizer-{SUFFIX}").select("sgd").run()
    button(at, "Train").click().run()
    second = executor.trainer(at.session_state["run_id"])
    rerun_until(at, lambda: second.state == T.FINISHED
                and any("were deleted" in i.value for i in at.info), timeout=60)
    note = next(i.value for i in at.info if "were deleted" in i.value)
    assert "#1 MNIST fast: adam" in note and "over the 1 saved runs kept per browser" in note
