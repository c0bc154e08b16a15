"""The process-wide run registry: device slots and queue, idle pause and freeing, history."""
from __future__ import annotations

import threading

import pytest

from playground import spec as S
from playground.train import trainer as T
from playground.ui import runs
from tests.unit.test_train import SMALL_NET, synthetic, wait_for


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def registry(clock):
    registry = runs.RunRegistry(slots={"cpu": 1}, idle_pause=120, idle_stop=1800,
                                sweep_seconds=0.05, clock=clock)
    yield registry
    registry.close()


def add_run(registry, owner="a", epochs=50, **config):
    settings = dict(lr=0.01, batch_size=32, epochs=epochs, seed=7)
    settings.update(config)
    trainer = T.Trainer(S.parse_spec(SMALL_NET), synthetic(), S.TrainingConfig(**settings),
                        registry.trainer_options(device="cpu", log_every=4))
    run = runs.Run(run_id=f"run-{owner}-{registry.next_number(owner)}", trainer=trainer,
                   owner=owner, number=registry.next_number(owner))
    registry.add(run)
    return run


def test_one_cpu_run_trains_the_next_waits_in_line_and_starts_when_the_slot_frees(registry):
    first, second, third = add_run(registry, "a"), add_run(registry, "b"), add_run(registry, "c")
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
    registry = runs.RunRegistry(slots={"cpu": 2}, sweep_seconds=0.05, clock=clock)
    try:
        fast, slow = add_run(registry, "a", epochs=2), add_run(registry, "b", epochs=2,
                                                                 lr=0.0001)
        registry.request_start(fast.run_id)
        registry.request_start(slow.run_id)
        assert registry.training_count("cpu") == 2
        fast.trainer.join(60)
        slow.trainer.join(60)
        assert fast.trainer.eval_records[-1].test_acc != slow.trainer.eval_records[-1].test_acc
        assert fast.trainer.step_records is not slow.trainer.step_records
    finally:
        registry.close()


def test_unseen_runs_are_paused_then_stopped_and_freed(registry, clock):
    run = add_run(registry, "a")
    registry.request_start(run.run_id)
    wait_for(lambda: run.trainer.step_records)
    clock.now += 60
    registry.sweep()
    assert run.trainer.state == T.RUNNING
    assert registry.get(run.run_id) is run  # the page looked: the idle clock starts again
    clock.now += 121
    registry.sweep()
    assert run.trainer.state == T.PAUSED and "not seen" in run.idle_note
    clock.now += 1800
    registry.sweep()
    assert registry.get(run.run_id) is None and run.trainer.state == T.STOPPED
    assert not run.trainer._thread.is_alive()
    assert registry.owner_of(run.run_id) == "a"  # a reload still finds its session's history
    assert [s.run_id for s in registry.history("a")] == [run.run_id]
    wait_for(lambda: registry._reaper is None, timeout=10)  # no runs, no reaper thread


def test_queued_unseen_run_leaves_the_line(registry, clock):
    first, second = add_run(registry, "a"), add_run(registry, "b")
    registry.request_start(first.run_id)
    registry.request_start(second.run_id)
    registry.get(first.run_id)
    clock.now += 150
    registry.get(first.run_id)
    registry.sweep()
    assert not second.queued and "not seen" in second.idle_note
    assert first.trainer.state == T.RUNNING


def test_reset_keeps_the_curves_for_comparison_and_reinitialises(registry):
    run = add_run(registry, "a")
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
    assert history[0].steps[-1].step == 4  # records as they were, not the live lists


def test_history_keeps_the_last_few_runs_per_session(registry):
    for _ in range(runs.KEEP_RUNS_PER_SESSION + 2):
        run = add_run(registry, "a", epochs=1)
        run.trainer.step(4)
        wait_for(lambda: run.trainer.step_count == 4 and not run.trainer.busy)
        registry.remove(run.run_id)
    add_run(registry, "b")
    history = registry.history("a")
    assert len(history) == runs.KEEP_RUNS_PER_SESSION
    assert history[-1].label.startswith(f"#{history[-1].number} small: adam lr 0.01")
    assert registry.history("b") == []


def test_the_active_run_cap_is_enforced(clock):
    registry = runs.RunRegistry(slots={"cpu": 1}, max_active=1, clock=clock)
    try:
        first = add_run(registry, "a")
        registry.request_start(first.run_id)
        with pytest.raises(runs.RunLimitError, match="limit 1"):
            add_run(registry, "b")
    finally:
        registry.close()


def test_close_leaves_no_threads():
    before = {t for t in threading.enumerate()}
    registry = runs.RunRegistry(sweep_seconds=0.05)
    run = add_run(registry, "a")
    registry.request_start(run.run_id)
    registry.close()
    wait_for(lambda: {t for t in threading.enumerate() if t.is_alive()} <= before, timeout=10)
