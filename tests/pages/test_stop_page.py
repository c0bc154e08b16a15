"""Stop and Reset on the Train page during a long step: the page says "stopping..." at once
(the press does not wait for the step), then "stopped" (or "ready" after Reset) when the
run's thread has finished that step."""
from __future__ import annotations

import time

from playground.train import trainer as T
from tests.pages.test_train_page import (SUFFIX, button, metric, page, rerun_until,  # noqa: F401
                                         small_mnist, trainer_run)
from tests.support import needs_data
from tests.unit.test_stop import slow_steps

pytestmark = needs_data


def press(at, label: str) -> float:
    started = time.monotonic()
    button(at, label).click().run()
    return time.monotonic() - started


def test_stop_and_reset_during_a_long_step_say_stopping_at_once(page):
    at = page()
    at.number_input(key=f"epochs-{SUFFIX}").set_value(60).run()
    button(at, "Train").click().run()
    trainer = trainer_run(at).trainer
    began = slow_steps(trainer, seconds=3.0)
    assert began.wait(60)
    assert press(at, "Stop") < 2.0  # the press waits at most STOP_WAIT_SECONDS
    assert metric(at, "State") == T.STOPPING and trainer._thread.is_alive()
    assert not button(at, "Train").disabled  # a new run may start meanwhile
    rerun_until(at, lambda: metric(at, "State") == "stopped")
    assert not trainer._thread.is_alive()

    trainer.reset()
    button(at, "Train").click().run()          # the same settings: trains it again
    began = slow_steps(trainer, seconds=3.0)
    assert began.wait(60)
    assert press(at, "Reset") < 2.0
    assert metric(at, "State") == T.STOPPING
    rerun_until(at, lambda: metric(at, "State") == "ready")
    assert trainer.step_count == 0
