"""The process-wide run registry: device slots and queue, idle pause and freeing, history;
and the executor contract on the in-process backend."""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import torch

from playground import runs
from playground import spec as S
from playground.analysis.network import model_from_state
from playground.runs.local import LocalExecutor
from playground.train import trainer as T
from tests.support import ROOT
from tests.unit.test_train import SMALL_NET, synthetic, wait_for


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


def make_executor(**settings) -> LocalExecutor:
    """An executor whose runs train SMALL_NET's synthetic data, whatever the dataset name."""
    return LocalExecutor(load_dataset=lambda name: synthetic(), **settings)


@pytest.fixture
def executor(clock):
    executor = make_executor(slots={"cpu": 1}, idle_pause=120, idle_stop=1800,
                             sweep_seconds=0.05, clock=clock)
    yield executor
    executor.close()


@pytest.fixture
def registry(executor):
    return executor.registry


class RunView:
    """A test's hold on one run: its id, its live trainer (kept, so it outlives the run's
    freeing) and what the registry says of it now."""

    def __init__(self, executor: LocalExecutor, run_id: str):
        self.executor, self.run_id = executor, run_id
        self.trainer = executor.trainer(run_id)
        self.owner = executor.registry.entry(run_id).owner

    @property
    def number(self) -> int:
        return self.executor.registry.entry(self.run_id).number

    @property
    def queued(self) -> bool:
        return self.executor.registry.is_queued(self.run_id)

    @property
    def idle_note(self) -> str:
        return self.executor.registry.entry(self.run_id).idle_note


def add_run(executor: LocalExecutor, owner="a", epochs=50, **config) -> RunView:
    settings = dict(lr=0.01, batch_size=32, epochs=epochs, seed=7)
    settings.update(config)
    run_id = executor.create(owner, S.parse_spec(SMALL_NET), S.TrainingConfig(**settings),
                             "synthetic", device="cpu", options=runs.RunOptions(log_every=4))
    return RunView(executor, run_id)


def test_one_cpu_run_trains_the_next_waits_in_line_and_starts_when_the_slot_frees(executor,
                                                                                   registry):
    first, second, third = add_run(executor, "a"), add_run(executor, "b"), add_run(executor, "c")
    for run in (first, second, third):
        registry.request_start(run.run_id)
    assert first.trainer.state == T.RUNNING
    assert second.trainer.state == T.READY and registry.queue_position(second.run_id) == (1, 2)
    assert registry.queue_position(third.run_id) == (2, 2)
    assert registry.queue_position(first.run_id) is None
    registry.pause(first.run_id)  # frees the slot: the reaper starts the next in line
    wait_for(lambda: second.trainer.state == T.RUNNING, timeout=10)
    assert third.trainer.state == T.READY and registry.queue_position(third.run_id) == (1, 1)
    registry.pause(third.run_id)  # leaving the line
    assert registry.queue_position(third.run_id) is None and not third.queued
    registry.request_start(first.run_id)  # resuming queues behind the one training
    assert registry.queue_position(first.run_id) == (1, 1)
    second.trainer.stop()  # stopped from elsewhere: the slot still frees
    wait_for(lambda: first.trainer.state == T.RUNNING, timeout=10)
    assert registry.training_count("cpu") == 1


def test_two_slots_let_two_runs_train_with_separate_metrics(clock):
    executor = make_executor(slots={"cpu": 2}, sweep_seconds=0.05, clock=clock)
    registry = executor.registry
    try:
        fast, slow = add_run(executor, "a", epochs=2), add_run(executor, "b", epochs=2,
                                                                 lr=0.0001)
        registry.request_start(fast.run_id)
        registry.request_start(slow.run_id)
        assert registry.training_count("cpu") == 2
        fast.trainer.join(60)
        slow.trainer.join(60)
        assert fast.trainer.eval_records[-1].test_acc != slow.trainer.eval_records[-1].test_acc
        assert fast.trainer.step_records is not slow.trainer.step_records
    finally:
        executor.close()


def test_unseen_runs_are_paused_then_stopped_and_freed(executor, registry, clock):
    run = add_run(executor, "a")
    registry.request_start(run.run_id)
    wait_for(lambda: run.trainer.step_records)
    clock.now += 60
    registry.sweep()
    assert run.trainer.state == T.RUNNING
    assert registry.touch(run.run_id)  # the page looked: the idle clock starts again
    clock.now += 121
    registry.sweep()
    assert run.trainer.state == T.PAUSED and "not seen" in run.idle_note
    clock.now += 1800
    registry.sweep()
    assert registry.entry(run.run_id) is None and run.trainer.state == T.STOPPED
    assert executor.status(run.run_id) is None and executor.trainer(run.run_id) is None
    assert not run.trainer._thread.is_alive()
    assert registry.owner_of(run.run_id) == "a"  # a reload still finds its session's history
    assert [s.run_id for s in registry.history("a")] == [run.run_id]
    wait_for(lambda: registry._reaper is None, timeout=10)  # no runs, no reaper thread


def test_queued_unseen_run_leaves_the_line(executor, registry, clock):
    first, second = add_run(executor, "a"), add_run(executor, "b")
    registry.request_start(first.run_id)
    registry.request_start(second.run_id)
    registry.touch(first.run_id)
    clock.now += 150
    registry.touch(first.run_id)
    registry.sweep()
    assert not second.queued and "not seen" in second.idle_note
    assert first.trainer.state == T.RUNNING


def test_reset_keeps_the_curves_for_comparison_and_reinitialises(executor, registry):
    run = add_run(executor, "a")
    initial = run.trainer.latest_weights()[1]["0.weight"].clone()
    run.trainer.step(6)
    wait_for(lambda: run.trainer.step_count == 6 and not run.trainer.busy)
    number = run.number
    registry.reset(run.run_id)
    assert run.trainer.state == T.READY and run.trainer.step_count == 0
    assert (run.trainer.latest_weights()[1]["0.weight"] == initial).all()
    assert run.number != number
    history = registry.history("a")
    assert len(history) == 1 and history[0].number == number
    # records as they were, not the live lists (a manual step of 6 ends with a point at 6)
    assert history[0].steps[-1].step == 6


def test_history_keeps_the_last_few_runs_per_session(executor, registry):
    for _ in range(runs.KEEP_RUNS_PER_SESSION + 2):
        run = add_run(executor, "a", epochs=1)
        run.trainer.step(4)
        wait_for(lambda: run.trainer.step_count == 4 and not run.trainer.busy)
        registry.remove(run.run_id)
    add_run(executor, "b")
    history = registry.history("a")
    assert len(history) == runs.KEEP_RUNS_PER_SESSION
    assert history[-1].label.startswith(f"#{history[-1].number} small: adam lr 0.01")
    assert registry.history("b") == []


def test_the_active_run_cap_is_enforced(clock):
    executor = make_executor(slots={"cpu": 1}, max_active=1, clock=clock)
    registry = executor.registry
    try:
        first = add_run(executor, "a")
        registry.request_start(first.run_id)
        with pytest.raises(runs.RunLimitError, match="limit 1"):
            add_run(executor, "b")
    finally:
        executor.close()


def test_close_leaves_no_threads():
    before = {t for t in threading.enumerate()}
    executor = make_executor(sweep_seconds=0.05)
    registry = executor.registry
    run = add_run(executor, "a")
    registry.request_start(run.run_id)
    executor.close()
    wait_for(lambda: {t for t in threading.enumerate() if t.is_alive()} <= before, timeout=10)


def test_a_failing_sweep_is_logged_and_the_reaper_goes_on(executor, registry, caplog,
                                                         monkeypatch):
    run = add_run(executor, "a")
    sweep, failures = registry.sweep, []

    def failing_once():
        if not failures:
            failures.append(1)
            raise RuntimeError("injected sweep failure")
        sweep()

    monkeypatch.setattr(registry, "sweep", failing_once)
    with caplog.at_level("ERROR", logger="playground.runs.registry"):
        registry.wake()
        wait_for(lambda: failures, timeout=10)
        executor.start(run.run_id)
        wait_for(lambda: run.trainer.state == T.RUNNING, timeout=10)
    assert any("injected sweep failure" in (r.exc_text or "") for r in caplog.records)
    assert registry._reaper is not None and registry._reaper.is_alive()


# --- the executor contract on the local backend ------------------------------------------------

def test_create_step_and_read_records_since_a_step(executor):
    run_id = executor.create("a", S.parse_spec(SMALL_NET),
                             S.TrainingConfig(lr=0.01, batch_size=32, epochs=2, seed=7),
                             "synthetic", device="cpu",
                             options=runs.RunOptions(log_every=4, snapshot_every=4,
                                                     evals_per_epoch=2, record_norms=True,
                                                     keep_predictions=True))
    status = executor.status(run_id)
    assert (status.state, status.step, status.owner, status.number) == (T.READY, 0, "a", 1)
    assert status.steps_per_epoch == 16 and status.total_steps == 32
    assert status.device == "cpu" and status.spec.name == "small" and not status.queued
    assert status.label.startswith("#1 small: adam lr 0.01")
    executor.step(run_id, 8)
    wait_for(lambda: executor.status(run_id).step == 8 and not executor.status(run_id).busy)
    first = executor.records(run_id)
    assert first.through_step == 8
    assert [r.step for r in first.steps] == [4, 8] and [r.step for r in first.evals] == [8]
    assert [r.step for r in first.norms] == [4, 8] and first.epochs == []
    executor.step_epoch(run_id)
    wait_for(lambda: executor.status(run_id).step == 16 and not executor.status(run_id).busy)
    later = executor.records(run_id, since_step=first.through_step)
    assert [r.step for r in later.steps] == [12, 16] and [r.step for r in later.evals] == [16]
    assert [r.epoch for r in later.epochs] == [1]
    assert executor.test_predictions(run_id).step == 16
    status = executor.status(run_id)
    assert status.state == T.PAUSED and status.epoch == 1.0 and status.train_seconds > 0
    executor.set_lr(run_id, 0.002)
    executor.set_augment(run_id, True)
    status = executor.status(run_id)
    assert status.lr == pytest.approx(0.002) and status.config.augment


def test_snapshots_and_latest_weights_load_into_a_network_built_from_the_spec(executor):
    run_id = executor.create("a", S.parse_spec(SMALL_NET),
                             S.TrainingConfig(lr=0.01, batch_size=32, epochs=1, seed=7),
                             "synthetic", device="cpu",
                             options=runs.RunOptions(snapshot_every=4))
    executor.step(run_id, 8)
    wait_for(lambda: executor.status(run_id).step == 8 and not executor.status(run_id).busy)
    snapshots = executor.snapshots(run_id)
    assert [(s.step, s.epoch) for s in snapshots] == [(0, 0.0), (4, 0.25), (8, 0.5)]
    first = executor.snapshot_weights(run_id, snapshots[0].snapshot_id)
    step, latest = executor.latest_weights(run_id)
    assert step == 8 and all(t.device.type == "cpu" for t in latest.values())
    assert not torch.equal(first["0.weight"], latest["0.weight"])
    assert torch.equal(executor.weight(run_id, "0.weight")[1], latest["0.weight"])
    assert executor.snapshot_weights(run_id, 12345) is None
    network = model_from_state(executor.status(run_id).spec, latest)
    images = synthetic().test_x[:4]
    assert network(images).shape == (4, 3)


def test_dataset_info_and_stop_and_free(executor):
    run = add_run(executor, "a")
    info = executor.dataset_info(run.run_id)
    assert (info.name, info.classes, info.input_shape) == (
        "synthetic", ["top", "middle", "bottom"], (1, 12, 12))
    assert (info.train_size, info.test_size, info.mean, info.std) == (512, 128, (0.0,), (1.0,))
    assert info.source == "made in the test" and info.note == ""
    assert info.samples.shape == (8, 1, 12, 12)
    executor.start(run.run_id)
    wait_for(lambda: executor.records(run.run_id).steps)
    executor.stop(run.run_id)
    assert executor.status(run.run_id).state == T.STOPPED
    assert not run.trainer._thread.is_alive()
    executor.start(run.run_id)  # a stopped run stays stopped
    assert executor.status(run.run_id).state == T.STOPPED
    executor.free(run.run_id)
    assert executor.status(run.run_id) is None and not executor.touch(run.run_id)
    with pytest.raises(runs.UnknownRunError):
        executor.records(run.run_id)
    executor.pause(run.run_id)  # commands to a freed run do nothing
    assert executor.owner_of(run.run_id) == "a"
    assert [s.run_id for s in executor.history("a")] == [run.run_id]


def test_the_runs_package_imports_no_streamlit():
    code = ("import sys, playground.runs, playground.runs.server, playground.data.shared; "
            "assert 'streamlit' not in sys.modules, 'streamlit imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --- ownership: only the browser that started a run controls it -------------------------------

def _observed(executor: LocalExecutor, run_id: str) -> tuple:
    status = executor.status(run_id)
    return (status.state, status.step, status.pending_steps, status.queued, status.lr,
            status.config.augment, status.number)


def test_every_command_from_another_owner_is_refused_and_changes_nothing(executor):
    run = add_run(executor, "a")
    executor.step(run.run_id, 2, owner="a")
    wait_for(lambda: run.trainer.step_count == 2 and not run.trainer.busy)
    before = _observed(executor, run.run_id)
    weights = run.trainer.latest_weights()[1]["0.weight"].clone()
    commands = {"start": lambda o: executor.start(run.run_id, owner=o),
                "resume": lambda o: executor.resume(run.run_id, owner=o),
                "pause": lambda o: executor.pause(run.run_id, owner=o),
                "step": lambda o: executor.step(run.run_id, 3, owner=o),
                "step_epoch": lambda o: executor.step_epoch(run.run_id, owner=o),
                "stop": lambda o: executor.stop(run.run_id, owner=o),
                "reset": lambda o: executor.reset(run.run_id, owner=o),
                "set_lr": lambda o: executor.set_lr(run.run_id, 0.5, owner=o),
                "set_augment": lambda o: executor.set_augment(run.run_id, True, owner=o),
                "free": lambda o: executor.free(run.run_id, owner=o)}
    for name, command in commands.items():
        with pytest.raises(runs.NotOwnerError, match="started in another browser"):
            command("b")
        assert _observed(executor, run.run_id) == before, name
    assert torch.equal(run.trainer.latest_weights()[1]["0.weight"], weights)
    assert executor.history("b") == [] and executor.owner_of(run.run_id) == "a"
    executor.pause(run.run_id, owner="a")   # its own browser, and the server, may
    executor.set_lr(run.run_id, 0.002, owner="a")
    executor.stop(run.run_id)
    assert executor.status(run.run_id).state == T.STOPPED
    executor.free(run.run_id, owner="a")
    assert executor.status(run.run_id) is None


# --- liveness: a closed tab frees its place, a connected one keeps it --------------------------

class Connections:
    """The pages' connections as a web server would report them: the runs shown now."""

    def __init__(self):
        self.shown: set[str] | None = set()

    def __call__(self, run_ids):
        return None if self.shown is None else self.shown & set(run_ids)


def test_a_run_whose_pages_are_gone_is_released_from_the_caps_and_resumes_later(clock):
    connections = Connections()
    executor = make_executor(slots={"cpu": 1}, max_active=1, disconnected_release=30,
                             liveness=connections, clock=clock)
    registry = executor.registry
    try:
        closed = add_run(executor, "a")
        connections.shown = {closed.run_id}
        executor.start(closed.run_id, owner="a")
        wait_for(lambda: executor.records(closed.run_id).steps)
        with pytest.raises(runs.RunLimitError, match="limit 1"):
            add_run(executor, "b")
        connections.shown = set()          # its tab closes
        registry.sweep()
        clock.now += 29
        registry.sweep()
        assert closed.trainer.state == T.RUNNING and registry.holds_place(closed.run_id)
        clock.now += 1
        registry.sweep()
        assert closed.trainer.state == T.PAUSED and not registry.holds_place(closed.run_id)
        status = executor.status(closed.run_id)
        assert "tab was closed" in status.idle_note and status.connected is False
        assert executor.records(closed.run_id).steps and executor.latest_weights(closed.run_id)
        other = add_run(executor, "b")    # the class is not locked out
        executor.start(other.run_id, owner="b")
        with pytest.raises(runs.RunLimitError, match="limit 1"):
            executor.start(closed.run_id, owner="a")   # back, but the place is taken
        with pytest.raises(runs.RunLimitError):
            executor.step(closed.run_id, owner="a")
        assert closed.trainer.state == T.PAUSED and not closed.trainer.busy
        executor.stop(other.run_id, owner="b")
        connections.shown = {closed.run_id}
        executor.start(closed.run_id, owner="a")
        wait_for(lambda: closed.trainer.state == T.RUNNING, timeout=10)
        assert registry.holds_place(closed.run_id)
        assert executor.status(closed.run_id).idle_note == ""
    finally:
        executor.close()


def test_a_connected_page_keeps_its_run_however_rarely_it_asks(clock):
    connections = Connections()
    executor = make_executor(slots={"cpu": 1}, idle_pause=120, idle_stop=1800,
                             liveness=connections, clock=clock)
    registry = executor.registry
    try:
        hidden = add_run(executor, "a")
        connections.shown = {hidden.run_id}
        executor.start(hidden.run_id, owner="a")
        for _ in range(3):                  # an hour with no touch from its throttled page
            clock.now += 1200
            registry.sweep()
        assert hidden.trainer.state == T.RUNNING and executor.status(hidden.run_id).connected
        connections.shown = None            # no web server to ask: the idle timers apply
        clock.now += 150
        registry.sweep()
        assert hidden.trainer.state == T.PAUSED and "not seen" in hidden.idle_note
    finally:
        executor.close()


def test_the_optional_cap_per_client_address(clock):
    executor = make_executor(slots={"cpu": 2}, max_per_address=1, clock=clock)

    def add(owner, address):
        run_id = executor.create(owner, S.parse_spec(SMALL_NET), S.TrainingConfig(epochs=50),
                                 "synthetic", device="cpu", address=address)
        executor.start(run_id, owner=owner)
        return run_id

    try:
        add("a", "10.0.0.5")
        with pytest.raises(runs.RunLimitError,
                           match=r"address 10.0.0.5 already has 1 active training run\(s\) "
                                 r"\(limit 1 per address\)"):
            add("b", "10.0.0.5")
        add("c", "10.0.0.6")
        add("d", None)                      # no address known: no cap to apply
    finally:
        executor.close()


def test_every_run_is_listed_with_its_age_and_a_memory_estimate(executor, clock):
    from playground.runs import footprint

    first = add_run(executor, "a")
    clock.now += 90
    second = add_run(executor, "b", optimizer="sgd", momentum=0.0)
    listed = executor.all_runs()
    assert [s.run_id for s in listed] == [first.run_id, second.run_id]
    assert [s.age_seconds for s in listed] == [90, 0]
    adam = footprint.estimate(listed[0].spec, listed[0].config)
    # SMALL_NET: 343 parameters, 1,103 floats of layer outputs per image, batch 32.
    assert (adam.parameters, adam.gradients, adam.optimizer_state) == (1372, 1372, 2744)
    assert adam.activations == 1103 * 4 * 32 and adam.activation_budget == 2**30
    assert footprint.estimate(listed[1].spec, listed[1].config).optimizer_state == 0
