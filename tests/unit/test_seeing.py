"""What the network sees: favourite images, attributions, adversarial noise and the
feature space (the Inspect page's analysis for those panels), on hand-built kernels, the
presets at initialisation and a briefly trained MNIST network."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from playground import presets
from playground import spec as S
from playground.analysis import adversarial as AD
from playground.analysis import attribution as AT
from playground.analysis import feature_space as FS
from playground.analysis import feature_visualisation as FV
from playground.analysis.network import model_from_state, conv_units
from playground.analysis.spectra import dominant_orientation
from playground.analysis.time_box import TimeBox
from playground.model.build import analyze, build_model, images_per_pass
from tests.support import needs_data
from tests.unit.trained_mnist import Trained, train_mnist_fast

SOBEL_X = torch.tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=torch.float32)


@pytest.fixture(scope="module")
def mnist() -> Trained:
    torch.set_num_threads(1)
    return train_mnist_fast()


def _single_conv(kernel: torch.Tensor) -> torch.nn.Module:
    model_spec = S.parse_spec({"version": 1, "name": "edge", "input": [1, 28, 28],
                               "num_classes": 2, "layers": [
                                   {"type": "conv", "out_channels": 1, "kernel_size": 3}]})
    state = build_model(model_spec).state_dict()
    state["0.weight"] = kernel[None, None].clone()
    state["0.bias"] = torch.zeros(1)
    return model_from_state(model_spec, state)


def _angle_gap(a: float, b: float) -> float:
    gap = abs(a - b) % 180
    return min(gap, 180 - gap)


# --- favourite images ---------------------------------------------------------------------

@pytest.mark.parametrize("kernel", [SOBEL_X, SOBEL_X.T, torch.tensor(
    [[0, 1, 2], [-1, 0, 1], [-2, -1, 0]], dtype=torch.float32)], ids=["0°", "90°", "45°"])
def test_an_oriented_edge_kernels_favourite_image_has_its_energy_at_that_orientation(kernel):
    network = _single_conv(kernel)
    found = FV.favourite_images(network, (1, 28, 28), (0.13,), (0.31,), "0", [0], 8,
                                TimeBox(30))
    assert found.finished and found.steps == FV.STEPS
    kernel_angle, _ = dominant_orientation(kernel.numpy())
    image_angle, selectivity = dominant_orientation(FV.grey(found.images[0]), 28)
    assert _angle_gap(image_angle, kernel_angle) < 10
    assert selectivity > 0.3   # most of the power on one line through DC
    assert found.final[0] > found.start[0] + 0.5


@needs_data
def test_optimised_images_excite_their_channel_far_above_the_starting_noise(mnist):
    network = mnist.trained
    for unit in conv_units(network):
        found = FV.favourite_images(network, (1, 28, 28), mnist.data.mean, mnist.data.std,
                                    unit.name, list(range(unit.out_channels)), 64,
                                    TimeBox(30))
        assert found.images.shape == (unit.out_channels, 28, 28, 1)
        assert found.images.min() >= 0 and found.images.max() <= 1
        # none falls; most rise clearly (a channel whose kernel mostly sums negative
        # answers darkness, and the ascent holds the mean brightness), and on average to
        # several times their start
        gain = found.final - found.start
        assert (gain > -1e-3).all() and (gain > 0.1).mean() >= 0.5, (unit.name, gain)
        assert found.final.mean() > 3 * max(found.start.mean(), 0.05), (unit.name, gain)
    classes = FV.favourite_images(network, (1, 28, 28), mnist.data.mean, mnist.data.std,
                                  None, list(range(10)), 64, TimeBox(30))
    with torch.no_grad():
        pixels = torch.as_tensor(classes.images).permute(0, 3, 1, 2)
        logits = network((pixels - mnist.data.mean[0]) / mnist.data.std[0])
    # each class's image is that class for the network
    assert (logits.argmax(1).numpy() == np.arange(10)).all()


def test_the_time_box_cuts_the_ascent_short():
    network = _single_conv(SOBEL_X)
    stopped = FV.favourite_images(network, (1, 28, 28), (0.13,), (0.31,), "0", [0], 8,
                                  TimeBox(30, should_stop=lambda: True))
    assert stopped.steps == 0 and not stopped.finished


# --- attributions -------------------------------------------------------------------------

@pytest.mark.parametrize("name", presets.preset_names())
def test_integrated_gradients_are_complete_on_every_preset(name):
    model_spec = presets.load_preset(name)
    network = model_from_state(model_spec, build_model(
        model_spec, "cpu", torch.Generator().manual_seed(0)).state_dict())
    probe = 2 * torch.randn(*model_spec.input, generator=torch.Generator().manual_seed(1))
    per_pass = images_per_pass(analyze(model_spec))
    _, check = AT.integrated_gradients(network, probe, 3, per_pass)
    assert check.holds, check
    # Captum's delta is the sum less the output difference, measured here independently
    assert check.delta == pytest.approx(check.attribution_sum - check.score_difference,
                                        abs=1e-4)


@needs_data
def test_occluding_the_digit_lowers_its_score_more_than_occluding_the_background(mnist):
    network = mnist.trained
    data = mnist.data
    for index in range(5):
        probe, label = data.test_x[index].float(), int(data.test_y[index])
        drop = AT.occlusion(network, probe, label, patch=4, stride=2, per_pass=64)
        ink = (probe[0] * data.std[0] + data.mean[0]).numpy() > 0.5
        assert drop[ink].mean() > drop[~ink].mean() + 0.1, index
    found = AT.attributions(network, probe, label, 4, 2, 64)
    assert found.saliency.shape == found.integrated.shape == found.occlusion.shape == (28, 28)
    assert found.completeness.holds


# --- adversarial noise --------------------------------------------------------------------

@needs_data
def test_epsilon_zero_changes_nothing_and_the_largest_epsilon_hurts(mnist):
    network, data = mnist.trained, mnist.data
    probe = data.test_x[0].float()
    for method in AD.METHODS:
        same = AD.attack_probe(network, probe, data.mean, data.std, 0.0, method)
        assert np.array_equal(same.adversarial, same.image)
        np.testing.assert_array_equal(same.after, same.before)
        moved = AD.attack_probe(network, probe, data.mean, data.std, 0.1, method)
        assert np.abs(moved.perturbation).max() <= 0.1 + 1e-6
        assert moved.adversarial.min() >= 0 and moved.adversarial.max() <= 1
        assert moved.after[moved.label] < moved.before[moved.label]
    subset = FS.fixed_subset(data.test_y, 200)
    curve = AD.accuracy_against_epsilon(network, data.test_x[subset], data.test_y[subset],
                                        data.mean, data.std, "FGSM", 100, TimeBox(60))
    assert curve.finished and len(curve.accuracy) == len(AD.CURVE_EPSILONS)
    assert curve.accuracy[0] > 0.8
    assert curve.accuracy[-1] < curve.accuracy[0] - 0.3


def test_adversarial_noise_measure_of_high_frequencies():
    rows, cols = np.mgrid[:28, :28]
    smooth = np.sin(2 * np.pi * cols / 28)
    checker = (-1.0) ** (rows + cols)
    assert AD.high_frequency_share(smooth) < 0.01
    assert AD.high_frequency_share(checker) > 0.99


# --- feature space ------------------------------------------------------------------------

def test_pca_matches_numpys_svd_up_to_sign():
    features = np.random.default_rng(0).normal(size=(300, 12)) * np.arange(1, 13)
    coordinates, explained = FS.pca_2d(features)
    centred = features - features.mean(0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T
    for axis in range(2):
        sign = np.sign(coordinates[:, axis] @ expected[:, axis])
        np.testing.assert_allclose(coordinates[:, axis], sign * expected[:, axis],
                                   rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(explained, singular[:2] ** 2 / (singular ** 2).sum())


def test_alignment_undoes_a_flip_and_a_turn():
    points = np.random.default_rng(1).normal(size=(50, 2))
    turn = np.array([[0.0, -1.0], [1.0, 0.0]]) @ np.diag([1.0, -1.0])
    np.testing.assert_allclose(FS.align(points @ turn, points), points, atol=1e-12)
    assert FS.align(points, None) is points


def test_class_separation_is_between_over_within():
    labels = np.repeat([0, 1], 50)
    noise = np.random.default_rng(2).normal(size=(100, 3))
    apart = noise + 10 * labels[:, None]
    assert FS.class_separation(apart, labels) > 10 * FS.class_separation(noise, labels)


@needs_data
def test_classes_separate_in_feature_space_as_the_network_learns(mnist):
    data = mnist.data
    subset = FS.fixed_subset(data.test_y)
    assert len(subset) == FS.POINTS
    counts = np.bincount(data.test_y[subset].numpy(), minlength=10)
    assert counts.min() >= 80   # stratified: every class its share
    before = FS.feature_space(mnist.initial, data.test_x, data.test_y, subset, 250)
    after = FS.feature_space(mnist.trained, data.test_x, data.test_y, subset, 250,
                             previous=before.coordinates)
    # random conv features already part the digits a little (0.34 here); training, more (0.51)
    assert after.separation > 1.3 * before.separation
    assert (after.predictions == after.labels).mean() > 0.85
    assert after.coordinates.shape == (FS.POINTS, 2)


def test_a_network_without_a_linear_layer_has_no_feature_space_to_show():
    model_spec = S.parse_spec({"version": 1, "name": "gap", "input": [1, 28, 28],
                               "num_classes": 10, "layers": [
                                   {"type": "conv", "out_channels": 10, "kernel_size": 3},
                                   {"type": "global_avgpool"}]})
    network = build_model(model_spec)
    assert not FS.has_linear_layer(network)
    with pytest.raises(ValueError, match="no linear layer"):
        FS.penultimate_features(network, torch.zeros(2, 1, 28, 28), 2)
    assert FS.has_linear_layer(build_model(presets.load_preset("mnist_fast")))


def test_live_recomputation_keeps_to_its_share_of_the_page_thread():
    from playground.analysis.time_box import LIVE_SHARE, live_interval

    assert live_interval(10.0, 0.1) == 10.0                 # cheap: the panel's own cadence
    assert live_interval(2.0, 1.0) == pytest.approx(1.0 / LIVE_SHARE)   # slow: spaced out
