"""The trainer: commands from other threads, reproducibility, snapshots, failures."""
from __future__ import annotations

import math
import os
import shutil
import threading
import time

import pytest
import torch

from playground.data import datasets as D
from playground import spec as S
from playground.train import trainer as T
from tests.support import needs_data

SMALL_NET = {
    "version": 1, "name": "small", "input": [1, 12, 12], "num_classes": 3,
    "layers": [{"type": "conv", "out_channels": 4, "kernel_size": 3},
               {"type": "relu"}, {"type": "maxpool", "kernel_size": 2},
               {"type": "flatten"}, {"type": "dropout", "p": 0.3}],
}


def synthetic(n_train: int = 512, n_test: int = 128, scale: float = 1.0) -> D.Dataset:
    """Three easy classes: a bright top, middle or bottom band."""
    generator = torch.Generator().manual_seed(123)

    def make(n):
        labels = torch.randint(0, 3, (n,), generator=generator)
        images = torch.randn(n, 1, 12, 12, generator=generator) * 0.3
        for cls in range(3):
            images[labels == cls, :, cls * 4:cls * 4 + 4, :] += 2.0
        return images * scale, labels

    train_x, train_y = make(n_train)
    test_x, test_y = make(n_test)
    return D.Dataset(name="synthetic", train_x=train_x, train_y=train_y, test_x=test_x,
                     test_y=test_y, classes=["top", "middle", "bottom"], mean=(0.0,),
                     std=(1.0,), source="made in the test")


def make_trainer(dataset=None, options: dict | None = None, **config) -> T.Trainer:
    """SMALL_NET on `synthetic()`; `options` overrides TrainerOptions, the rest the config."""
    settings = dict(optimizer="adam", lr=0.01, batch_size=32, epochs=2, seed=7)
    settings.update(config)
    observed = dict(device="cpu", log_every=4, snapshot_every=4, evals_per_epoch=2)
    observed.update(options or {})
    return T.Trainer(S.parse_spec(SMALL_NET), dataset or synthetic(),
                     S.TrainingConfig(**settings), T.TrainerOptions(**observed))


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_training_learns_and_finishes():
    trainer = make_trainer()
    trainer.start()
    trainer.join(60)
    assert trainer.state == T.FINISHED
    assert trainer.step_count == trainer.total_steps == 2 * math.ceil(512 / 32)
    steps, evals, epochs = trainer.history()
    assert [e.epoch for e in epochs] == [1, 2]
    assert evals[-1].test_acc > 0.9
    assert steps[-1].loss < steps[0].loss
    assert all(r.samples_per_s > 0 for r in steps)


def test_seeded_runs_are_reproducible_side_by_side():
    """Two runs with one seed, trained at the same time in one process, end identical."""
    first, second, other = make_trainer(), make_trainer(), make_trainer(seed=8)
    for trainer in (first, second, other):
        trainer.start()
    for trainer in (first, second, other):
        trainer.join(60)
    for name, tensor in first.latest_weights()[1].items():
        assert torch.equal(tensor, second.latest_weights()[1][name]), name
    assert not torch.equal(first.latest_weights()[1]["0.weight"],
                           other.latest_weights()[1]["0.weight"])


def test_step_pause_resume_and_stop_from_another_thread():
    trainer = make_trainer(epochs=50)
    trainer.step(3)
    wait_for(lambda: trainer.step_count == 3)
    time.sleep(0.1)
    assert trainer.step_count == 3 and trainer.state == T.PAUSED
    trainer.step_epoch()
    wait_for(lambda: trainer.step_count == trainer.steps_per_epoch)
    assert trainer.state == T.PAUSED
    threading.Thread(target=trainer.resume).start()
    wait_for(lambda: trainer.step_count > trainer.steps_per_epoch + 2)
    trainer.pause()
    time.sleep(0.1)
    paused_at = trainer.step_count
    time.sleep(0.2)
    assert trainer.step_count == paused_at
    trainer.stop()
    assert trainer.state == T.STOPPED
    assert not trainer._thread.is_alive()


def test_set_lr_applies_now_and_rejects_nonsense():
    trainer = make_trainer(epochs=50)
    trainer.step(1)
    wait_for(lambda: trainer.step_count == 1)
    trainer.set_lr(0.001)
    assert trainer.current_lr == pytest.approx(0.001)
    with pytest.raises(ValueError, match="lr"):
        trainer.set_lr(float("nan"))
    trainer.stop()


def test_nan_loss_pauses_with_advice():
    trainer = make_trainer(dataset=synthetic(scale=1e38), lr=1.0, optimizer="sgd")
    trainer.start()
    wait_for(lambda: trainer.state != T.RUNNING)
    assert trainer.state == T.PAUSED
    assert "too high" in trainer.message and "learning rate" in trainer.message
    trainer.stop()


def test_snapshot_ring_stays_in_budget_and_spans_the_run():
    trainer = make_trainer(epochs=6)
    one = sum(t.numel() * t.element_size() for t in trainer.latest_weights()[1].values())
    trainer.options.max_snapshot_bytes = 5 * one
    trainer.start()
    trainer.join(60)
    snapshots = trainer.snapshots()
    assert sum(s.nbytes for s in snapshots) <= 5 * one
    assert snapshots[0].step == 0 and snapshots[-1].step == trainer.total_steps
    assert len(snapshots) >= 3


def test_snapshot_is_a_copy():
    trainer = make_trainer()
    step, state = trainer.latest_weights()
    before = state["0.weight"].clone()
    trainer.start()
    trainer.join(60)
    assert torch.equal(state["0.weight"], before)
    assert not torch.equal(trainer.latest_weights()[1]["0.weight"], before)


def test_inspection_model_is_independent_eval_copy():
    trainer = make_trainer()
    copy = trainer.inspection_model()
    assert not copy.training
    assert copy[0].weight.data_ptr() != trainer.network[0].weight.data_ptr()


def test_exception_in_thread_fails_the_run_only(monkeypatch):
    trainer = make_trainer()
    healthy = make_trainer()

    def broken(*args, **kwargs):
        raise RuntimeError("injected fault")

    monkeypatch.setattr(trainer.network, "forward", broken)
    trainer.start()
    healthy.start()
    trainer.join(30)
    healthy.join(60)
    assert trainer.state == T.FAILED and "injected fault" in trainer.message
    assert not trainer._thread.is_alive()
    assert healthy.state == T.FINISHED


def test_target_accuracy_stops_early():
    options = T.TrainerOptions(device="cpu", evals_per_epoch=10, target_acc=0.8)
    trainer = T.Trainer(S.parse_spec(SMALL_NET), synthetic(),
                        S.TrainingConfig(lr=0.01, batch_size=16, epochs=20), options)
    trainer.run()
    assert trainer.state == T.FINISHED and trainer.message == "target reached"
    assert trainer.time_to_target is not None
    assert trainer.eval_records[-1].test_acc >= 0.8
    assert trainer.step_count < trainer.total_steps


def test_dataset_that_does_not_fit_is_refused():
    spec = S.parse_spec({**SMALL_NET, "input": [3, 12, 12]})
    with pytest.raises(S.SpecError, match=r"input: the spec takes \[3, 12, 12\]"):
        T.Trainer(spec, synthetic(), S.TrainingConfig(), T.TrainerOptions(device="cpu"))


@needs_data
def test_augmented_training_on_real_mnist_subset():
    from playground.presets import load_preset

    dataset = D.load_dataset("mnist", limit_train=3000)
    model_spec = load_preset("mnist_fast")
    config = S.resolve_training(model_spec.training, epochs=1, augment=True)
    trainer = T.Trainer(model_spec, dataset, config, T.TrainerOptions(device="cpu"))
    trainer.run()
    assert trainer.state == T.FINISHED
    assert trainer.eval_records[-1].test_acc > 0.8


def test_norms_and_predictions_are_recorded_only_when_asked():
    plain = make_trainer(epochs=1)
    plain.run()
    assert plain.norm_history() == [] and plain.test_predictions() is None
    states = []
    options = T.TrainerOptions(device="cpu", log_every=4, evals_per_epoch=2, record_norms=True,
                               keep_predictions=True, on_state_change=states.append)
    trainer = T.Trainer(S.parse_spec(SMALL_NET), synthetic(),
                        S.TrainingConfig(lr=0.01, batch_size=32, epochs=1, seed=7), options)
    trainer.start()
    trainer.join(60)
    assert states[-2:] == [T.RUNNING, T.FINISHED]
    norms = trainer.norm_history()
    assert [r.step for r in norms] == [r.step for r in trainer.step_records]
    assert all(len(r.weight_norms) == len(r.grad_norms) == 2 for r in norms)
    assert all(math.isfinite(g) and g > 0 for r in norms for g in r.grad_norms)
    predictions = trainer.test_predictions()
    assert predictions.step == trainer.step_count
    assert predictions.top_classes.shape == (128, 3)
    accuracy = (predictions.predicted == trainer.data.test_y).float().mean().item()
    assert accuracy == pytest.approx(trainer.eval_records[-1].test_acc)
    # The same seed gives the same weights with or without the extra records.
    assert torch.equal(plain.latest_weights()[1]["0.weight"],
                       trainer.latest_weights()[1]["0.weight"])


def test_busy_while_stepping_and_remaining_time():
    trainer = make_trainer(epochs=50)
    assert not trainer.busy and trainer.remaining_seconds() is None
    trainer.step_epoch()
    assert trainer.busy
    wait_for(lambda: not trainer.busy)
    assert trainer.state == T.PAUSED and trainer.step_count == trainer.steps_per_epoch
    assert trainer.remaining_seconds() > 0
    trainer.stop()
    assert not trainer.busy


def test_mixed_precision_changes_nothing_on_cpu():
    runs = [make_trainer(epochs=1, options={"mixed_precision": flag}) for flag in (True, False)]
    for trainer in runs:
        trainer.run()
        assert trainer.state == T.FINISHED, trainer.message
    mixed, plain = runs
    assert [r.loss for r in mixed.step_records] == [r.loss for r in plain.step_records]
    assert [r.test_loss for r in mixed.eval_records] == [r.test_loss for r in plain.eval_records]
    for name, tensor in plain.latest_weights()[1].items():
        assert torch.equal(mixed.latest_weights()[1][name], tensor), name


@pytest.mark.skipif(shutil.which("g++") is None,
                    reason="torch.compile on a CPU needs a C++ compiler (g++)")
def test_compiled_training_matches_eager():
    """A few seeded steps of SMALL_NET (dropout included) compiled and eager: the same
    losses and weights, and the compiled run's module is the one the trainer inspects."""
    runs = []
    for compile in (False, True):
        trainer = make_trainer(synthetic(n_train=128, n_test=32), epochs=1,
                               options={"compile": compile, "log_every": 1})
        trainer.run()
        assert trainer.state == T.FINISHED, trainer.message
        runs.append(trainer)
    eager, compiled = runs
    assert compiled._train_forward is not compiled.network
    assert len(compiled.step_records) == 4
    for mine, theirs in zip(compiled.step_records, eager.step_records):
        assert mine.loss == pytest.approx(theirs.loss, rel=1e-4), mine.step
    for name, tensor in eager.latest_weights()[1].items():
        torch.testing.assert_close(compiled.latest_weights()[1][name], tensor,
                                   rtol=1e-4, atol=1e-5, msg=name)
    assert compiled.snapshots()[-1].state.keys() == eager.snapshots()[-1].state.keys()


@pytest.mark.parametrize("total_steps", [1, 2, 3, 4, 5])
def test_one_cycle_works_for_very_short_runs(total_steps):
    """OneCycleLR divides by its warm-up length, which is zero for exactly 4 steps."""
    trainer = make_trainer(synthetic(32 * total_steps), batch_size=32, epochs=1,
                           schedule="onecycle")
    trainer.start()
    trainer.join(60)
    assert trainer.state == T.FINISHED, trainer.message
    assert trainer.step_count == total_steps


def test_each_manual_step_records_a_curve_point():
    trainer = make_trainer(options=dict(log_every=10))
    trainer.step()
    wait_for(lambda: not trainer.busy)
    assert [r.step for r in trainer.history()[0]] == [1]
    trainer.step(3)
    wait_for(lambda: not trainer.busy)
    assert [r.step for r in trainer.history()[0]] == [1, 4]
    trainer.stop()


def test_manual_step_points_leave_the_training_unchanged():
    """Recording a point after a Step only reads the sums: the weights are the same."""
    stepped, ran = make_trainer(), make_trainer()
    for _ in range(5):
        stepped.step()
        wait_for(lambda: not stepped.busy)
    ran.step(5)
    wait_for(lambda: not ran.busy)
    for name, tensor in ran.latest_weights()[1].items():
        assert torch.equal(tensor, stepped.latest_weights()[1][name]), name
    stepped.stop()
    ran.stop()


def test_lr_changes_are_recorded_with_their_first_step():
    trainer = make_trainer()
    trainer.step(3)
    wait_for(lambda: not trainer.busy)
    trainer.set_lr(0.001)
    changes = trainer.lr_history()
    assert [(c.step, c.lr) for c in changes] == [(4, 0.001)]
    assert changes[0].epoch == pytest.approx(4 / trainer.steps_per_epoch)
    assert trainer.progress().lr_changes == changes
    trainer.stop()
    trainer.reset()
    assert trainer.lr_history() == []


def test_estimate_describes_durations():
    from playground.train.estimate import describe_seconds, training_seconds
    assert describe_seconds(12.34) == "12.3 s"
    assert describe_seconds(130) == "2 min 10 s"
    assert describe_seconds(3 * 3600 + 5 * 60) == "3 h 05 min"
    assert training_seconds(0.5, 1000, 128, 3) == pytest.approx(0.5 * 8 * 3)


def random_dataset(shape: tuple[int, int, int], n_train: int) -> D.Dataset:
    generator = torch.Generator().manual_seed(0)
    return D.Dataset(name="cifar10" if shape[0] == 3 else "mnist",
                     train_x=torch.randn(n_train, *shape, generator=generator),
                     train_y=torch.randint(0, 10, (n_train,), generator=generator),
                     test_x=torch.randn(64, *shape, generator=generator),
                     test_y=torch.randint(0, 10, (64,), generator=generator),
                     classes=[str(c) for c in range(10)], mean=(0.0,) * shape[0],
                     std=(1.0,) * shape[0], source="random")


@pytest.mark.parametrize("preset,steps", [("mnist_fast", 40), ("tinyvgg_cifar10", 8),
                                          ("resnet_cifar10", 6)])
def test_estimate_is_within_30_percent_of_the_training_time(preset, steps):
    """The estimate for N steps against the trainer's own training time after N steps."""
    from playground.presets import load_preset
    from playground.train import estimate
    model_spec = load_preset(preset)
    config = S.resolve_training(model_spec.training)
    shape, _ = D.KNOWN_SHAPES[config.dataset]
    dataset = random_dataset(shape, config.batch_size * steps)
    assert estimate.seconds_per_step(model_spec, config, shape, config.dataset, "cpu") > 0
    trained = []
    # Up to three short runs, each measured right after its own estimate: on a shared, busy
    # machine one moment's pace can be an outlier.
    for _ in range(3):
        per_step = estimate.measure_seconds_per_step(model_spec, config, shape,
                                                     config.dataset, torch.device("cpu"))
        trainer = T.Trainer(model_spec, dataset, config,
                            T.TrainerOptions(device="cpu", evals_per_epoch=1))
        trainer.step(steps - 1)  # the epoch's last step evaluates: not training time
        wait_for(lambda: not trainer.busy, timeout=300)
        trained.append(trainer.train_seconds / (steps - 1))
        trainer.stop()
        if per_step == pytest.approx(trained[-1], rel=0.3):
            return
    pytest.fail(f"estimate {per_step:.4f} s/step, trained {trained}")


def test_a_read_during_a_step_takes_the_copy_made_for_readers_without_waiting():
    """The model lock is held through every step; a reader that finds it held asks for a
    copy at the step's end and takes the previous ask's copy at once."""
    trainer = make_trainer(options=dict(snapshot_every=1000))
    with trainer._model_lock:  # as if a step were under way: the first ask waits, then
        step, _ = trainer.latest_weights()  # takes the newest snapshot (step 0)
    assert step == 0 and trainer._reader_asked
    trainer.step(2)
    wait_for(lambda: trainer.step_count == 2 and not trainer.busy)
    assert trainer._for_readers[0] == 1 and not trainer._reader_asked  # copied once, at 1
    with trainer._model_lock:
        started = time.perf_counter()
        step, state = trainer.latest_weights()
        _, one = trainer.tensor_copy("0.weight")
        waited = time.perf_counter() - started
    assert step == 1 and waited < T.READ_WAIT_SECONDS
    assert torch.equal(one, state["0.weight"])
    assert not torch.equal(state["0.weight"], trainer.latest_weights()[1]["0.weight"])
    trainer.stop()
    trainer.join(30)
    trainer.reset()  # a new life: the old copy must never come back
    wait_for(lambda: trainer.step_count == 0)
    assert trainer._for_readers is None
