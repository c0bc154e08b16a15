"""Failures in the middle of a run, by fault injection: each one ends that run with a reason,
ends its thread and frees its memory, and leaves the session, other runs and earlier
metrics as they were."""
from __future__ import annotations

import gc
import os
import weakref

import pytest
import torch

from playground.data import datasets as D
from playground import spec as S
from playground.train import trainer as T
from playground.data import shared
from playground.ui import runs
from tests.unit.test_runs import Clock, add_run, make_executor
from tests.unit.test_train import make_trainer, synthetic, wait_for
from tests.pages.test_train_page import SUFFIX, button, page, small_mnist, trainer_run  # noqa: F401
from tests.support import needs_data


def fail_at_step(trainer: T.Trainer, step: int, error, seen: list) -> None:
    """Make the network's forward pass raise `error()` once the run reaches `step`.

    The hook keeps weak references to the batches it saw, to check they are freed.
    """
    def hook(module, inputs):
        seen.append(weakref.ref(inputs[0]))
        if trainer.step_count >= step and torch.is_grad_enabled():
            raise error()

    trainer.network.register_forward_pre_hook(hook)


@pytest.mark.parametrize("error", [
    lambda: torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    lambda: RuntimeError("[enforce fail at alloc_cpu.cpp:116] DefaultCPUAllocator: can't "
                         "allocate memory: you tried to allocate 8589934592 bytes"),
], ids=["cuda-oom", "cpu-oom"])
def test_out_of_memory_mid_run_fails_it_with_advice_and_frees_its_memory(error):
    trainer = make_trainer(batch_size=64, epochs=3)
    seen = []
    fail_at_step(trainer, 10, error, seen)
    trainer.start()
    trainer.join(30)
    assert trainer.state == T.FAILED
    assert "out of memory" in trainer.message and "batch size 64" in trainer.message
    assert "smaller batch (e.g. 32)" in trainer.message
    assert not trainer._thread.is_alive()
    # Earlier metrics and snapshots stay; only what training alone needs is dropped.
    assert trainer.step_count == 10 and trainer.step_records[-1].step == 8
    assert trainer.snapshots()[-1].step == 10
    assert trainer.optimizer.state == {}
    assert all(p.grad is None for p in trainer.network.parameters())
    gc.collect()
    assert seen and all(ref() is None for ref in seen)  # no batch kept alive by the error
    # The session can go on: reset and train again, with the fault gone.
    trainer.network._forward_pre_hooks.clear()
    trainer.reset()
    trainer.step(3)
    wait_for(lambda: trainer.step_count == 3 and not trainer.busy)
    assert trainer.state == T.PAUSED
    trainer.stop()


def test_an_exception_inside_the_thread_fails_that_run_only():
    failing, healthy = make_trainer(epochs=3), make_trainer(epochs=1)
    fail_at_step(failing, 5, lambda: KeyError("injected"), [])
    failing.start()
    healthy.start()
    failing.join(30)
    healthy.join(60)
    assert failing.state == T.FAILED
    assert failing.message == "training failed at step 5: KeyError: 'injected'"
    assert healthy.state == T.FINISHED and healthy.eval_records


def test_a_nan_loss_mid_run_pauses_it_and_keeps_the_records():
    trainer = make_trainer(epochs=3)

    def poison(module, inputs, output):
        if trainer.step_count >= 8:
            return output * float("nan")
        return None

    trainer.network.register_forward_hook(poison)
    trainer.start()
    wait_for(lambda: trainer.state == T.PAUSED, timeout=30)
    assert "the loss became nan" in trainer.message and "lower it" in trainer.message
    assert [r.step for r in trainer.step_records][:2] == [4, 8]
    assert all(r.loss == r.loss for r in trainer.step_records[:2])  # finite before
    trainer.stop()
    assert not trainer._thread.is_alive()


def test_a_failed_run_in_the_registry_keeps_earlier_runs_and_frees_the_slot():
    executor = make_executor(slots={"cpu": 1}, sweep_seconds=0.05, clock=Clock())
    registry = executor.registry
    try:
        earlier = add_run(executor, "a", epochs=1)
        earlier.trainer.step(8)
        wait_for(lambda: earlier.trainer.step_count == 8 and not earlier.trainer.busy)
        registry.remove(earlier.run_id)
        kept = registry.history("a")[0].steps
        failing = add_run(executor, "a")
        waiting = add_run(executor, "b")
        fail_at_step(failing.trainer, 6,
                     lambda: torch.cuda.OutOfMemoryError("CUDA out of memory"), [])
        registry.request_start(failing.run_id)
        registry.request_start(waiting.run_id)
        wait_for(lambda: failing.trainer.state == T.FAILED, timeout=30)
        # The slot it held goes to the next run in line.
        wait_for(lambda: waiting.trainer.state == T.RUNNING, timeout=30)
        assert registry.history("a")[0].steps == kept
        assert "smaller batch" in failing.trainer.message
    finally:
        executor.close()
    assert not any(r.trainer._thread.is_alive() for r in (earlier, failing, waiting))


def test_a_closed_tab_pauses_then_frees_the_run_and_its_memory():
    """A tab closed mid-epoch is seen by the registry only as a page that stops looking."""
    clock = Clock()
    executor = make_executor(slots={"cpu": 1}, idle_pause=120, idle_stop=1800,
                             sweep_seconds=0.05, clock=clock)
    registry = executor.registry
    try:
        # Small batches: 64 steps an epoch, so the check below sees the run mid-epoch
        # even when a loaded machine lets it run on for a while.
        run = add_run(executor, "a", epochs=50, batch_size=8)
        registry.request_start(run.run_id)
        wait_for(lambda: len(run.trainer.step_records) >= 2)
        assert run.trainer.step_count % run.trainer.steps_per_epoch  # mid-epoch
        clock.now += 121
        registry.sweep()
        assert run.trainer.state == T.PAUSED and "not seen" in run.idle_note
        # Pausing lets the step in flight finish; after it, no step may follow.
        wait_for(lambda: not run.trainer.busy)
        steps = run.trainer.step_count
        clock.now += 1800
        registry.sweep()
        assert registry.entry(run.run_id) is None and run.trainer.state == T.STOPPED
        assert not run.trainer._thread.is_alive()
        summary = registry.history("a")[0]
        assert summary.steps[-1].step <= steps and summary.state == T.STOPPED
        freed = weakref.ref(run.trainer)
        network = weakref.ref(run.trainer.network)
        del run
        gc.collect()
        assert freed() is None and network() is None  # nothing holds the model any more
    finally:
        executor.close()


def test_a_dataset_that_fails_to_load_is_a_clear_error(tmp_path):
    broken = tmp_path / "pictures"
    for split in ("train", "test"):
        (broken / split / "cats").mkdir(parents=True)
        (broken / split / "cats" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n damaged")
    with pytest.raises(D.DataError) as caught:
        D.load_dataset(f"folder:{broken}", tmp_path)
    assert str(caught.value) == (f"dataset folder:{broken}: cannot decode image "
                                 f"{broken / 'train' / 'cats' / 'a.png'}")


@needs_data
def test_a_dataset_failing_on_the_train_page_leaves_the_session_usable(page, monkeypatch,
                                                                       small_mnist):
    at = page()
    button(at, "Train").click().run()
    wait_for(lambda: trainer_run(at) and trainer_run(at).trainer.step_records, timeout=60)
    earlier = trainer_run(at)
    button(at, "Pause").click().run()

    def failing_load(name):
        raise D.DataError(f"dataset {name}: IDX file train-images: truncated")

    monkeypatch.setattr(shared, "dataset", failing_load)
    button(at, "Reset").click().run()
    at.number_input(key=f"lr-{SUFFIX}").set_value(0.002).run()
    button(at, "Train").click().run()
    assert not at.exception
    assert any("truncated" in e.value for e in at.error), [e.value for e in at.error]
    monkeypatch.setattr(shared, "dataset", lambda name: small_mnist)
    button(at, "Train").click().run()
    assert not at.exception
    run = trainer_run(at)
    wait_for(lambda: run.trainer.step_records, timeout=60)
    assert run.trainer.config.lr == 0.002
    assert earlier.run_id in {s.run_id for s in runs.executor().history(run.owner)}


def test_a_batch_whose_activations_are_over_the_limit_is_refused_before_training():
    big = {"version": 1, "name": "wide", "input": [1, 12, 12], "num_classes": 3,
           "layers": [{"type": "conv", "out_channels": 512, "kernel_size": 3,
                       "padding": 1}]}
    limits_mb = S.LIMITS.max_activation_bytes // 2**20
    with pytest.raises(S.SpecError, match=rf"over the limit of {limits_mb:,} MB; use a batch "
                                          r"of at most \d+"):
        T.Trainer(S.parse_spec(big), synthetic(), S.TrainingConfig(batch_size=2048),
                  T.TrainerOptions(device="cpu"))
