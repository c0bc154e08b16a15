"""The rotation-and-scale lesson: OpenCV warps, augmentation and trained models."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from playground.figures.lessons.dice import dice_bars
from playground.figures.lessons.grids import gradient_maps
from playground.figures.lessons.invariance import probe_confidence, probe_strip, robustness
from playground.figures.lessons.signals import signal_filter
from playground.figures.lessons.transposed import overlap_map
from playground.lessons import invariance, signals
from playground.lessons.dice import dice_sum, uniform_die
from playground.lessons.invariance import (ANGLES, AugmentRange, SCALES, SHIFTS, probe_sweep,
                                           train_robust_pair, warp, warp_batch)
from playground.lessons.pooling import mnist_digits, shift
from playground.lessons.samples import sample_digit
from playground.lessons.signals import causal_convolution, cross_correlation_1d, kernel_1d
from playground.lessons.transposed import overlap_counts
from tests.unit.test_lessons_backward import backward  # noqa: F401  (a fixture)


def test_warp_is_opencvs_rotation_scale_and_shift():
    digit = sample_digit(7).astype(np.float32)
    np.testing.assert_allclose(warp(digit), digit, atol=1e-6)
    np.testing.assert_allclose(warp(digit, angle=90), np.rot90(digit), atol=1e-5)
    np.testing.assert_allclose(warp(digit, angle=180), digit[::-1, ::-1], atol=1e-5)
    np.testing.assert_allclose(warp(digit, dx=3), shift(digit, 3), atol=1e-6)
    small = warp(digit, scale=0.5)
    assert small.sum() == pytest.approx(digit.sum() / 4, rel=0.1)   # a quarter of the ink
    batch = warp_batch(torch.tensor(np.stack([digit, digit]))[:, None], [0, 90], [1, 1])
    np.testing.assert_allclose(batch[1, 0].numpy(), np.rot90(digit), atol=1e-5)


def test_augmentation_draws_per_image_and_is_seeded():
    images = torch.tensor(np.stack([sample_digit(3)] * 4), dtype=torch.float32)[:, None]
    augment = AugmentRange()
    first = augment(images, torch.Generator().manual_seed(0))
    again = augment(images, torch.Generator().manual_seed(0))
    assert torch.equal(first, again) and first.shape == images.shape
    assert not torch.allclose(first[0], first[1])          # each image its own draw
    assert AugmentRange(0, 1, 1, 0)(images, torch.Generator()).sub(images).abs().max() < 1e-5


@pytest.fixture(scope="module")
def robust():
    original = invariance.CURVE_DIGITS
    invariance.CURVE_DIGITS = 200
    try:
        return train_robust_pair(train_count=640, epochs=1)
    finally:
        invariance.CURVE_DIGITS = original


def test_trained_pair_curves_are_measured(robust):
    images, labels = mnist_digits()
    plain, augmented = robust
    assert (plain.name, augmented.name) == ("no augmentation", "augmented")
    for trained in robust:
        curves = trained.curves
        assert curves.angles == list(ANGLES) and curves.scales == list(SCALES)
        assert all(0 <= v <= 1 for v in curves.angle_accuracy + curves.scale_accuracy
                   + curves.shift_accuracy)
        at_zero = curves.angle_accuracy[ANGLES.index(0)]
        assert at_zero == curves.scale_accuracy[SCALES.index(1.0)] == \
            curves.shift_accuracy[SHIFTS.index(0)]
        # it learned something (chance is 0.1; 640 digits, one epoch, to keep the test fast)
        assert at_zero > (0.4 if trained is plain else 0.15)
    # recompute one point from the returned network: 90 degrees, on the same test digits
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    test = order[-1000:][:200]
    rotated = torch.tensor(np.stack([np.rot90(im) for im in images[test, 0].numpy()]))[:, None]
    with torch.no_grad():
        predicted = plain.network(rotated).argmax(1)
    expected = float((predicted == labels[test]).double().mean())
    assert plain.curves.angle_accuracy[ANGLES.index(90)] == pytest.approx(expected, abs=0.01)
    plain_zero = plain.curves.angle_accuracy[ANGLES.index(0)]
    assert plain.curves.angle_accuracy[ANGLES.index(90)] < plain_zero - 0.2  # rotation hurts


def test_probe_sweep_reads_the_softmax(robust):
    network = robust[0].network
    digit = sample_digit(4)
    sweep = probe_sweep(network, digit, 4, "angle", [0, 90])
    with torch.no_grad():
        probs = torch.softmax(network(torch.tensor(np.rot90(digit).copy(),
                                                   dtype=torch.float32)[None, None]), 1)[0]
    assert sweep.predicted[1] == int(probs.argmax())
    assert sweep.true_probability[1] == pytest.approx(float(probs[4]), abs=1e-4)
    assert sweep.images.shape == (2, 28, 28)
    with pytest.raises(ValueError, match="kind must be"):
        probe_sweep(network, digit, 4, "shear", [1])


# --- figures ------------------------------------------------------------------------------

def test_figures_build(backward, robust):
    x = signals.test_signal("step", length=30)
    w = kernel_1d("difference [1, -1]")
    figure = signal_filter(x, causal_convolution(x, w), w, 15,
                              cross_correlation_1d(x, w))
    assert [trace.name for trace in figure.data][:3] == [
        "input x", "conv1d, kernel not flipped", "output y (convolution)"]
    gradient_maps([layer.grad_output[0] for layer in backward.layers[:3]], ["a", "b", "c"])
    assert len(overlap_map(overlap_counts(4, 3, 2)).data) == 1
    assert len(robustness([r.curves for r in robust]).data) == 6
    sweep = probe_sweep(robust[0].network, sample_digit(1), 1, "scale", [0.5, 1.0, 1.5])
    strip = probe_strip(sweep, 1, "x")
    assert len(strip.data) == 3 and "1x" in strip.layout.annotations[1].text
    probe_confidence({"m": sweep}, 1, "scale")
    bars = dice_bars(uniform_die(6), dice_sum(6, 2), highlight=7)
    assert list(bars.data[1].text)[5] == "6/36"
