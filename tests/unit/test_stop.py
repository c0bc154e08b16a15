"""Stop means stop: Stop and Reset return at once, the run says "stopping..." while its
thread finishes the step it is in, its training slot goes to the next run at once, and a
long evaluation ends between two chunks. A slow step is simulated by a forward hook that
sleeps (a torch operation in a thread cannot be interrupted: the step cap keeps real steps
to about a second)."""
from __future__ import annotations

import threading
import time

import pytest
import torch

from playground.runs import local
from playground.train import trainer as T
from tests.unit.test_runs import add_run, make_executor
from tests.unit.test_train import make_trainer, synthetic, wait_for

STEP_SECONDS = 1.5


def slow_steps(trainer: T.Trainer, seconds: float = STEP_SECONDS,
               in_evaluation: bool = False, per_image: bool = False) -> threading.Event:
    """From now on every training step (or evaluation chunk) of `trainer` sleeps for
    `seconds` (per image, with `per_image`); the returned event is set when one has begun."""
    began = threading.Event()

    def hook(module, inputs):
        if torch.is_grad_enabled() != in_evaluation:
            began.set()
            time.sleep(seconds * (len(inputs[0]) if per_image else 1))

    trainer.network.register_forward_pre_hook(hook)
    return began


def timed(action) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def test_stop_during_a_step_returns_at_once_then_the_thread_ends_after_that_step():
    trainer = make_trainer(epochs=50)
    began = slow_steps(trainer)
    trainer.start()
    assert began.wait(30)
    assert timed(lambda: trainer.stop(wait=0.1)) < 0.5
    assert trainer.state == T.STOPPED and trainer.message == T.STOPPING
    assert trainer.stopping and trainer._thread.is_alive()
    step = trainer.step_count
    trainer.join(10)
    assert not trainer._thread.is_alive() and not trainer.stopping
    assert trainer.state == T.STOPPED and trainer.message == "stopped"
    assert trainer.step_count == step + 1  # it finished the step it was in, no more


@pytest.fixture
def executor():
    made = make_executor(slots={"cpu": 1}, idle_pause=120, idle_stop=1800)
    yield made
    made.close()


def test_a_stopping_run_gives_its_slot_to_the_next_in_line_at_once(executor):
    # The second run is long: on a quiet machine a short one could finish while the first
    # run's slow step ends, and the check at the end counts runs training.
    first, second = add_run(executor, "a"), add_run(executor, "b", epochs=5000)
    began = slow_steps(first.trainer)
    executor.start(first.run_id)
    executor.start(second.run_id)
    assert began.wait(30) and executor.registry.is_queued(second.run_id)
    assert timed(lambda: executor.stop(first.run_id)) < local.STOP_WAIT_SECONDS + 0.5
    status = executor.status(first.run_id)
    assert status.state == T.STOPPED and status.message == T.STOPPING
    wait_for(lambda: second.trainer.state == T.RUNNING, timeout=2)
    assert first.trainer._thread.is_alive()  # the slot was freed before the step ended
    first.trainer.join(10)
    assert executor.status(first.run_id).message == "stopped"
    assert executor.registry.training_count("cpu") == 1


def test_reset_during_a_step_returns_at_once_and_reinitialises_when_the_step_ends(executor):
    run = add_run(executor, "a")
    began = slow_steps(run.trainer)
    executor.start(run.run_id)
    assert began.wait(30)
    assert timed(lambda: executor.reset(run.run_id)) < local.STOP_WAIT_SECONDS + 0.5
    assert executor.status(run.run_id).message == T.STOPPING
    run.trainer.join(10)
    assert run.trainer.state == T.READY and run.trainer.step_count == 0
    assert run.trainer.step_records == []
    executor.start(run.run_id)  # and it trains again
    wait_for(lambda: run.trainer.step_count > 0, timeout=30)


def test_a_stop_during_an_evaluation_ends_it_between_two_chunks():
    trainer = make_trainer(dataset=synthetic(n_test=3000), epochs=5)
    trainer.images_per_pass = 100  # 30 chunks of 0.1 s: 3 s without a stop
    began = slow_steps(trainer, seconds=0.001, in_evaluation=True, per_image=True)
    trainer.start()
    assert began.wait(60)
    assert timed(lambda: trainer.stop(wait=True)) < 0.6
    assert trainer.state == T.STOPPED and trainer.message == "stopped"
    assert len(trainer.eval_records) == 0  # the cut evaluation is not recorded
