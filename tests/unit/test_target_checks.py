"""Target checks on a stratified test subset, confirmed on the whole test set (DESIGN.md, CLI)."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from playground import cli
from playground import spec as S
from playground.data import datasets as D
from playground.train import trainer as T
from playground.train import target as target_checks
from playground.train.target import confirm_threshold, stratified_subset
from tests.unit.test_train import SMALL_NET, synthetic

CHECK_IMAGES = 100  # of 400 test images


def test_stratified_subset_keeps_each_class_share_and_is_fixed():
    labels = torch.tensor([0] * 500 + [1] * 300 + [2] * 150 + [3] * 50)[torch.randperm(1000)]
    subset = stratified_subset(labels, 200)
    assert len(subset) == 200 and len(set(subset.tolist())) == 200
    assert torch.equal(subset, subset.sort().values)
    counts = torch.bincount(labels[subset], minlength=4).tolist()
    assert all(abs(count - share) <= 1 for count, share in zip(counts, [100, 60, 30, 10]))
    assert torch.equal(subset, stratified_subset(labels.clone(), 200))


def test_confirm_threshold_is_two_standard_errors_below_the_target():
    assert confirm_threshold(0.98, 2000) == pytest.approx(0.98 - 2 * 0.0031305, abs=1e-6)
    assert confirm_threshold(0.5, 100) == pytest.approx(0.4)


def misleading_subset(dataset: D.Dataset) -> D.Dataset:
    """The check subset stays easy; every other test image shows the next class's band
    under its own label, so the whole test set stays far below any target."""
    keep = torch.zeros(len(dataset.test_y), dtype=torch.bool)
    keep[stratified_subset(dataset.test_y, CHECK_IMAGES)] = True
    test_x = dataset.test_x.clone()
    for index in torch.nonzero(~keep).flatten().tolist():
        band = (int(dataset.test_y[index]) + 1) % 3
        image = torch.zeros(1, 12, 12)
        image[:, band * 4:band * 4 + 4, :] = 2.0
        test_x[index] = image
    return replace(dataset, test_x=test_x)


def record_evaluations(monkeypatch, trainer_of: list) -> list[tuple[int, float, float]]:
    """(images, accuracy, the trainer's train_seconds) of every evaluation it runs."""
    calls = []
    real = T.evaluate

    def recorded(network, images, labels, **options):
        result = real(network, images, labels, **options)
        calls.append((len(labels), result.accuracy, trainer_of[0].train_seconds))
        return result

    monkeypatch.setattr(T, "evaluate", recorded)
    return calls


def checked_trainer(dataset: D.Dataset, target: float, epochs: int = 3) -> T.Trainer:
    options = T.TrainerOptions(device="cpu", evals_per_epoch=10, target_acc=target,
                               target_check_images=CHECK_IMAGES)
    return T.Trainer(S.parse_spec(SMALL_NET), dataset,
                     S.TrainingConfig(lr=0.01, batch_size=16, epochs=epochs), options)


def test_a_subset_pass_that_the_whole_test_set_does_not_confirm_keeps_training(monkeypatch):
    trainer_of: list = []
    calls = record_evaluations(monkeypatch, trainer_of)
    trainer_of.append(checked_trainer(misleading_subset(synthetic(n_test=400)), target=0.8))
    trainer = trainer_of[0]
    trainer.run()
    assert trainer.state == T.FINISHED and trainer.message == "finished"
    assert trainer.time_to_target is None and trainer.step_count == trainer.total_steps
    passes = [acc for images, acc, _ in calls if images == CHECK_IMAGES and acc >= 0.8]
    assert passes, "the subset never reached the target"
    mid_epoch = [r for r in trainer.eval_records if r.step % trainer.steps_per_epoch]
    assert mid_epoch, "no subset pass was confirmed on the whole test set"
    assert all(r.test_acc < 0.5 for r in trainer.eval_records)


def test_time_to_target_is_train_seconds_when_the_confirming_evaluation_starts(monkeypatch):
    trainer_of: list = []
    calls = record_evaluations(monkeypatch, trainer_of)
    trainer_of.append(checked_trainer(synthetic(n_test=400), target=0.9, epochs=5))
    trainer = trainer_of[0]
    trainer.run()
    assert trainer.message == "target reached"
    whole = [(acc, seconds) for images, acc, seconds in calls if images == 400]
    assert whole[-1][0] >= 0.9 and trainer.time_to_target == whole[-1][1]
    assert trainer.eval_records[-1].test_acc == whole[-1][0]
    assert sum(images == CHECK_IMAGES for images, _, _ in calls) >= 1
    # the whole test set only at epoch ends and after subset passes
    threshold = confirm_threshold(0.9, CHECK_IMAGES)
    for before, after in zip(calls, calls[1:]):
        if after[0] == 400 and before[0] == CHECK_IMAGES:
            assert before[1] >= threshold


def test_every_printed_test_acc_is_on_the_whole_test_set(monkeypatch, capsys, tmp_path):
    dataset = misleading_subset(synthetic(n_test=400))
    monkeypatch.setattr(D, "load_dataset", lambda *args, **kwargs: dataset)
    monkeypatch.setattr(target_checks, "CHECK_IMAGES", CHECK_IMAGES)
    counted = []
    real = T.evaluate
    monkeypatch.setattr(T, "evaluate", lambda network, images, labels, **options: (
        counted.append(len(labels)) or real(network, images, labels, **options)))
    spec = tmp_path / "small.json"
    spec.write_text(json.dumps(SMALL_NET))
    status = cli.main(["train", str(spec), "--dataset", "folder:unused", "--epochs", "2",
                       "--batch-size", "16", "--target-acc", "0.8", "--json"])
    assert status == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3 and lines[-1]["time_to_target"] is None
    assert CHECK_IMAGES in counted and 400 in counted
    # a subset figure would be near 1: the whole test set is below 0.5
    assert all(line["test_acc"] < 0.5 for line in lines)
