"""Diagnostics on crafted cases: norms, dead filters, predictions and plain-language advice."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from playground.analysis import diagnostics as Dg
from playground import spec as S
from playground.train import trainer as T
from playground.train.records import EpochRecord, EvalRecord, StepRecord
from playground.model.build import build_model
from tests.unit.test_train import SMALL_NET, make_trainer, synthetic, wait_for


def step(n, loss, acc=0.5, epoch=None):
    return StepRecord(step=n, epoch=epoch if epoch is not None else n / 100, loss=loss,
                        train_acc=acc, lr=0.1, samples_per_s=1000.0, train_seconds=n / 100)


def evaluation(n, loss, acc):
    return EvalRecord(step=n, epoch=n / 100, test_loss=loss, test_acc=acc,
                        train_seconds=n / 100)


def small_network():
    return build_model(S.parse_spec(SMALL_NET), "cpu", torch.Generator().manual_seed(0))


def test_layer_norms_match_a_hand_computation():
    network = small_network()
    images = torch.randn(8, 1, 12, 12)
    torch.nn.functional.cross_entropy(network(images), torch.tensor([0, 1, 2] * 2 + [0, 1])
                                      ).backward()
    layers, weights, grads = Dg.layer_norms(network)
    conv, head = network[0], network[5]
    assert layers == [0, 5]
    expected = math.sqrt(float(conv.weight.detach().pow(2).sum() + conv.bias.detach().pow(2).sum()))
    assert weights[0] == pytest.approx(expected, rel=1e-5)
    expected = math.sqrt(head.weight.grad.pow(2).sum() + head.bias.grad.pow(2).sum())
    assert grads[1] == pytest.approx(expected, rel=1e-5)


def test_layer_norms_without_gradients_are_nan():
    _, _, grads = Dg.layer_norms(small_network())
    assert all(math.isnan(g) for g in grads)


def test_very_negative_biases_make_dead_filters():
    network = small_network().eval()
    images = synthetic().test_x[:64]
    healthy = Dg.dead_filters(network, images)
    assert [(d.conv_index, d.relu_index, d.total) for d in healthy] == [(0, 1, 4)]
    assert healthy[0].dead == 0
    with torch.no_grad():
        network[0].bias[:3] = -100.0
    dead = Dg.dead_filters(network, images)[0]
    assert dead.dead == 3 and dead.dead_channels == [0, 1, 2]
    advice = Dg.training_advice([], dead=[dead])
    assert advice and "3 of 4 filters of conv layer 0" in advice[0].text


def test_relu_is_found_through_batchnorm_but_not_through_other_layers():
    network = nn.Sequential()
    for index, module in enumerate([nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(),
                                    nn.Conv2d(2, 2, 3), nn.MaxPool2d(2), nn.ReLU(),
                                    nn.Conv2d(2, 2, 1), nn.LeakyReLU()]):
        network.add_module(str(index), module)
    assert Dg.conv_relu_pairs(network) == [(0, 2)]


def test_confusion_matrix_and_gallery_filters():
    labels = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 0, 2])
    matrix = Dg.confusion_matrix(predicted, labels, 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert Dg.gallery_indices(predicted, labels, mistakes_only=True) == [1, 4]
    assert Dg.gallery_indices(predicted, labels, true_class=2) == [4, 5]
    assert Dg.gallery_indices(predicted, labels, mistakes_only=True, true_class=1) == []
    assert Dg.gallery_indices(predicted, labels, limit=2) == [0, 1]


def test_top_k_predictions_on_a_copy():
    network = small_network()
    images = synthetic().test_x[:10]
    predictions = Dg.predict_top_k(network, images, step=5, k=3)
    assert predictions.top_classes.shape == (10, 3) and predictions.step == 5
    assert torch.all(predictions.top_probs[:, 0] >= predictions.top_probs[:, 1])
    assert torch.equal(predictions.predicted, network(images).argmax(1))


def titles(advice):
    return [a.title for a in advice]


def test_advice_nan_loss_comes_first_and_alone():
    records = [step(10, 2.3), step(20, 1e30), step(30, float("nan"))]
    advice = Dg.training_advice(records, lr=5.0)
    assert titles(advice) == ["The loss blew up"]
    assert advice[0].level == "error"
    assert "step 30" in advice[0].text and "learning rate 5 is far too high" in advice[0].text


def test_advice_exploding_loss():
    advice = Dg.training_advice([step(10, 2.3), step(20, 4.0), step(30, 9.0)])
    assert titles(advice) == ["The loss is exploding"]


def test_advice_learning_rate_too_low_on_a_smooth_slow_curve():
    records = [step(10 * i, 2.30 - 0.005 * i, acc=0.3) for i in range(10)]
    advice = Dg.training_advice(records, lr=1e-5)
    assert titles(advice) == ["Learning rate probably too low"]
    assert "1e-05" in advice[0].text


def test_advice_learning_rate_too_high_on_a_jumpy_curve():
    records = [step(10 * i, 2.3 + (0.6 if i % 2 else -0.3), acc=0.1) for i in range(10)]
    advice = Dg.training_advice(records, lr=0.5)
    assert titles(advice) == ["Learning rate probably too high"]


def test_advice_is_quiet_on_healthy_training():
    records = [step(10 * i, 2.3 * 0.7 ** i, acc=min(0.99, 0.3 + 0.08 * i)) for i in range(12)]
    evals = [evaluation(40, 0.5, 0.85), evaluation(80, 0.3, 0.92), evaluation(120, 0.25, 0.95)]
    epochs = [EpochRecord(1, 0.3, 0.93, 0.95, 1000.0, 1.0, 1.2)]
    assert Dg.training_advice(records, evals, epochs) == []


def test_advice_overfitting_from_the_accuracy_gap_and_the_test_loss():
    epochs = [EpochRecord(5, 0.01, 0.99, 0.80, 1000.0, 1.0, 1.2)]
    advice = Dg.training_advice([], [], epochs)
    assert titles(advice) == ["Overfitting"] and "99.0%" in advice[0].text
    evals = [evaluation(100, 0.5, 0.8), evaluation(200, 0.3, 0.9), evaluation(300, 0.45, 0.9)]
    advice = Dg.training_advice([], evals)
    assert titles(advice) == ["Overfitting"] and "step 200" in advice[0].text


def test_sgd_with_a_huge_learning_rate_diverges_pauses_and_warns():
    trainer = make_trainer(optimizer="sgd", lr=10.0, epochs=20)
    trainer.options.record_norms = True
    trainer.start()
    wait_for(lambda: trainer.state != T.RUNNING)
    try:
        assert trainer.state == T.PAUSED
        steps, evals, epochs = trainer.history()
        advice = Dg.training_advice(steps, evals, epochs, num_classes=3, lr=trainer.current_lr)
        assert advice[0].title == "The loss blew up" and advice[0].level == "error"
        norms = trainer.norm_history()
        assert norms and norms[0].layers == [0, 5]
        assert norms[0].grad_norms[0] > 100  # the gradients were already huge
    finally:
        trainer.stop()
