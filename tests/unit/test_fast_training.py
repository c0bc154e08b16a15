"""The settings of the fast presets: label smoothing, Nesterov, warm-up and linear decay,
a weight average, flip test-time augmentation, and the presets themselves (a few steps)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from playground import spec as S
from playground.data import datasets as D
from playground.train import trainer as T
from playground.train.optim import make_optimizer, make_scheduler, uses_nesterov
from playground.train.step import evaluate, train_step
from tests.unit.test_train import make_trainer

PRESET_DIR = Path(__file__).resolve().parents[2] / "assets" / "presets"


def linear_net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))


def lrs(config: S.TrainingConfig, steps: int) -> list[float]:
    optimizer = make_optimizer(linear_net(), config)
    scheduler = make_scheduler(optimizer, config, steps)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return rates


@pytest.mark.parametrize("nesterov, momentum, expected", [
    (None, 0.9, True), (None, 0.0, False),     # unset: as before the setting existed
    (True, 0.9, True), (True, 0.0, False), (False, 0.9, False)])
def test_nesterov(nesterov, momentum, expected):
    config = S.TrainingConfig(optimizer="sgd", momentum=momentum, nesterov=nesterov)
    assert uses_nesterov(config) is expected
    assert make_optimizer(linear_net(), config).param_groups[0]["nesterov"] is expected


def test_linear_schedule_warms_up_then_decays_to_zero():
    config = S.TrainingConfig(optimizer="sgd", lr=1.0, schedule="linear", warmup_fraction=0.2)
    assert lrs(config, 10) == pytest.approx(
        [0.5, 1.0, 1.0, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8])
    no_warmup = S.TrainingConfig(optimizer="sgd", lr=1.0, schedule="linear")
    assert lrs(no_warmup, 4) == pytest.approx([1.0, 0.75, 0.5, 0.25])


def test_constant_schedule_with_and_without_warmup():
    assert make_scheduler(make_optimizer(linear_net(), S.TrainingConfig()),
                          S.TrainingConfig(), 10) is None  # as before
    config = S.TrainingConfig(lr=1.0, warmup_fraction=0.3)
    assert lrs(config, 5) == pytest.approx([0.5, 1.0, 1.0, 1.0, 1.0])


def test_onecycle_keeps_its_quarter_warmup_unless_one_is_set():
    default = S.TrainingConfig(lr=1.0, schedule="onecycle")
    assert max(range(20), key=lrs(default, 20).__getitem__) == 4  # 0.25 * 20 - 1
    short = S.TrainingConfig(lr=1.0, schedule="onecycle", warmup_fraction=0.1)
    assert max(range(20), key=lrs(short, 20).__getitem__) == 1


def test_label_smoothing_in_the_training_loss():
    torch.manual_seed(0)
    images, labels = torch.randn(8, 1, 3, 4), torch.randint(0, 3, (8,))
    network = linear_net()
    expected = F.cross_entropy(network(images), labels, label_smoothing=0.2)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.0)
    loss, _ = train_step(network, optimizer, images, labels, label_smoothing=0.2)
    assert float(loss) == pytest.approx(float(expected.detach()))


def test_flip_evaluation_averages_the_mirror_images_logits():
    torch.manual_seed(0)
    images, labels = torch.randn(10, 1, 3, 4), torch.randint(0, 3, (10,))
    network = linear_net()
    with torch.no_grad():
        logits = (network(images) + network(images.flip(3))) / 2
    result = evaluate(network, images, labels, chunk=4, flip=True)
    assert result.loss == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-5)
    assert result.correct == int((logits.argmax(1) == labels).sum())
    assert evaluate(network, images, labels).loss != pytest.approx(result.loss)


def test_weight_average_is_what_evaluations_and_snapshots_read():
    trainer = make_trainer(optimizer="sgd", lr=0.1, ema_decay=0.9)
    trainer.run()
    live = trainer.network.state_dict()
    step, averaged = trainer.latest_weights()
    assert step == trainer.total_steps
    assert not torch.equal(averaged["0.weight"], live["0.weight"])
    assert torch.equal(trainer.snapshots()[-1].state["0.weight"], averaged["0.weight"])
    result = evaluate(trainer.read_network, trainer.data.test_x, trainer.data.test_y)
    assert trainer.eval_records[-1].test_loss == pytest.approx(result.loss)
    plain = make_trainer()
    assert plain.weight_average is None and plain.read_network is plain.network


def photos(shape: tuple[int, int, int], count: int) -> D.Dataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(count, *shape, generator=generator)
    labels = torch.arange(count) % 10
    return D.Dataset(name="synthetic", train_x=images, train_y=labels, test_x=images[:32],
                     test_y=labels[:32], classes=[str(i) for i in range(10)],
                     mean=(0.0,) * shape[0], std=(1.0,) * shape[0], source="made in the test")


@pytest.mark.parametrize("name", ["cifar10_fast", "mnist_99"])
def test_fast_presets_train_a_few_steps(name):
    """CI does not train them to accuracy (BENCHMARKS.md has their times): three steps
    with every setting of their training section, on random images."""
    model_spec = S.load_spec(PRESET_DIR / f"{name}.json")
    config = S.resolve_training(model_spec.training, batch_size=16, epochs=1)
    trainer = T.Trainer(model_spec, photos(model_spec.input, 48), config,
                        T.TrainerOptions(device="cpu", log_every=1))
    trainer.run()
    assert trainer.step_count == 3 and trainer.weight_average is not None
    assert all(torch.isfinite(torch.tensor(r.loss)) for r in trainer.step_records)
    assert len(trainer.eval_records) == 1


def test_bench_times_lower_targets_from_one_run_and_takes_medians():
    from playground.bench import benchmark as B
    from tests.unit.test_train import SMALL_NET, synthetic

    model_spec = S.parse_spec(SMALL_NET)
    config = S.TrainingConfig(lr=0.01, batch_size=32, epochs=2)
    low, high = B.times_to_accuracies(model_spec, synthetic(), {0.5: 60.0, 0.999: None},
                                      torch.device("cpu"), config)
    assert (low.target, low.budget, high.target) == (0.5, 60.0, 0.999)
    assert low.reached and low.train_seconds <= high.train_seconds
    assert low.final_acc >= 0.5 and low.name == "50% synthetic"
    runs = [B.AccuracyRun("t", "s", "d", 0.9, reached, seconds, 1.0, 0.9)
            for reached, seconds in ((True, 3.0), (False, 1.0), (True, 2.0))]
    middle = B.median_run(runs)
    assert middle.train_seconds == 3.0
    assert "median of 3 runs: 3.0, 1.0 (not reached), 2.0 s" in middle.note


def test_channels_last_trains_as_nchw_does_and_copies_stay_nchw():
    """Same seed, same batches: the NHWC run's weights match the NCHW run's (up to float
    rounding in other kernels), and every copy a page or a file gets is plain NCHW."""
    plain = make_trainer(optimizer="sgd", lr=0.05, epochs=1)
    nhwc = make_trainer(optimizer="sgd", lr=0.05, epochs=1, channels_last=True)
    for trainer in (plain, nhwc):
        trainer.run()
    assert nhwc.network[0].weight.is_contiguous(memory_format=torch.channels_last)
    _, plain_state = plain.latest_weights()
    step, state = nhwc.latest_weights()
    assert step == plain.step_count
    for name, tensor in state.items():
        assert tensor.is_contiguous(), name
        assert torch.allclose(tensor, plain_state[name], atol=1e-4), name
    assert nhwc.snapshots()[-1].state["0.weight"].is_contiguous()
    assert nhwc.tensor_copy("0.weight")[1].is_contiguous()


def test_cpu_bf16_autocasts_only_where_the_cpu_has_it(monkeypatch):
    from playground.train import device as Dv
    cpu = torch.device("cpu")
    asked = S.TrainingConfig(cpu_bf16=True)
    monkeypatch.setattr(Dv, "cpu_has_native_bf16", lambda: True)
    assert Dv.uses_bf16(cpu, asked) and not Dv.uses_bf16(cpu, S.TrainingConfig())
    with Dv.autocast_for(cpu, True):
        assert torch.nn.Linear(4, 2)(torch.ones(1, 4)).dtype == torch.bfloat16
    monkeypatch.setattr(Dv, "cpu_has_native_bf16", lambda: False)
    assert not Dv.uses_bf16(cpu, asked)   # emulated bf16 would be slower than fp32
    with Dv.autocast_for(cpu, False):
        assert torch.nn.Linear(4, 2)(torch.ones(1, 4)).dtype == torch.float32


def test_a_cpu_bf16_run_learns(monkeypatch):
    from playground.train import device as Dv
    monkeypatch.setattr(Dv, "cpu_has_native_bf16", lambda: True)
    trainer = make_trainer(cpu_bf16=True)
    assert trainer.mixed_precision
    trainer.run()
    assert trainer.eval_records[-1].test_acc > 0.9


def test_milestones_are_confirmed_on_the_whole_test_set_when_first_passed():
    """The benchmark times 70% and 80% from one run: between epoch ends the quick checks
    on a subset call for a whole-set evaluation as they near the lower milestone too, so
    its time is not rounded up to the next epoch's end."""
    from dataclasses import replace

    from tests.unit.test_train import synthetic
    data = synthetic()
    wrong = data.test_y.clone()
    wrong[::4] = (wrong[::4] + 1) % 3     # a quarter mislabelled: at most 75% reachable
    data = replace(data, test_y=wrong)

    def evaluated_steps(milestones):
        trainer = make_trainer(data, options=dict(target_acc=0.999, target_check_images=32,
                                                  evals_per_epoch=8, milestones=milestones),
                               epochs=1)
        trainer.run()
        return [(r.step, r.test_acc) for r in trainer.eval_records], trainer.steps_per_epoch

    plain, steps = evaluated_steps(())
    assert [step for step, _ in plain] == [steps]          # only the epoch's end
    timed, _ = evaluated_steps((0.5,))
    first = next(step for step, accuracy in timed if accuracy >= 0.5)
    assert first < steps and len(timed) > len(plain)


def test_quick_target_checks_read_the_weights_evaluations_read(monkeypatch):
    seen = []
    real = T.evaluate

    def spy(network, *args, **kwargs):
        seen.append((network, kwargs.get("flip")))
        return real(network, *args, **kwargs)

    monkeypatch.setattr(T, "evaluate", spy)
    trainer = make_trainer(options=dict(target_acc=0.999, target_check_images=32,
                                        evals_per_epoch=4),
                           optimizer="sgd", lr=0.1, ema_decay=0.9, test_flip=True, epochs=1)
    trainer.run()
    assert len(seen) > 1
    assert all(network is trainer.read_network and flip for network, flip in seen)
