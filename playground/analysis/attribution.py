"""Which input pixels a prediction rests on, three ways (Captum's implementations):

- saliency: |d score / d pixel|, how sensitive the score is to each pixel right here;
- integrated gradients: gradients averaged along the straight path from a baseline image
  (the dataset's mean colour) to the probe, times the difference; they add up to the
  score's change from the baseline to the probe (completeness), and Captum reports how far
  the sum is off (`return_convergence_delta`);
- occlusion: the score's drop when a patch of the mean colour covers each place.

Run on a frozen eval-mode snapshot; each pass holds a pass slot and batches stay within
the activation budget (`per_pass` images).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from playground.train.passes import pass_slot, with_gradients

IG_STEPS = 64
# Completeness is exact for the true integral; the Gauss-Legendre sum of IG_STEPS points
# is off by at most this share of |score(probe) - score(baseline)| (plus ABSOLUTE_ERROR)
# on the presets (tests/unit/test_seeing.py).
RELATIVE_ERROR = 0.05
ABSOLUTE_ERROR = 1e-3
# Seconds between two recomputations while a run trains, at least (`time_box.live_interval`;
# three maps of one probe).
LIVE_EVERY = 2.0


@dataclass
class Completeness:
    attribution_sum: float
    score_difference: float    # score(probe) - score(baseline)
    delta: float               # Captum's convergence delta: the sum less the difference

    @property
    def tolerance(self) -> float:
        return RELATIVE_ERROR * abs(self.score_difference) + ABSOLUTE_ERROR

    @property
    def holds(self) -> bool:
        return abs(self.delta) <= self.tolerance


@dataclass
class Attributions:
    target: int
    saliency: np.ndarray        # [H, W] >= 0: max over channels of |gradient|
    integrated: np.ndarray      # [H, W] signed: summed over channels
    occlusion: np.ndarray       # [H, W] signed: score drop, averaged over channels
    completeness: Completeness


def _captum():
    """Captum's attribution module, imported on first use: it takes a second or two (it
    loads matplotlib), which the app's start and the other panels need not wait for."""
    from captum import attr

    return attr


def _batch(probe: torch.Tensor) -> torch.Tensor:
    return probe.detach().to("cpu", torch.float32).unsqueeze(0)


def baseline(probe: torch.Tensor) -> torch.Tensor:
    """The dataset's mean colour: zero in normalised units."""
    return torch.zeros_like(_batch(probe))


def saliency(network: nn.Module, probe: torch.Tensor, target: int) -> np.ndarray:
    with pass_slot():
        x = _batch(probe).requires_grad_(True)
        grads = _captum().Saliency(network).attribute(x, target=target, abs=True)
    return grads[0].amax(0).numpy()


def integrated_gradients(network: nn.Module, probe: torch.Tensor, target: int,
                         per_pass: int) -> tuple[np.ndarray, Completeness]:
    x, base = _batch(probe), baseline(probe)
    with pass_slot():
        attributions, delta = _captum().IntegratedGradients(network).attribute(
            x, baselines=base, target=target, n_steps=IG_STEPS,
            internal_batch_size=min(with_gradients(per_pass), IG_STEPS),
            return_convergence_delta=True)
        with torch.no_grad():
            scores = network(torch.cat([x, base]))[:, target]
    check = Completeness(float(attributions.sum()), float(scores[0] - scores[1]),
                         float(delta[0]))
    return attributions[0].sum(0).detach().numpy(), check


def occlusion(network: nn.Module, probe: torch.Tensor, target: int, patch: int, stride: int,
              per_pass: int) -> np.ndarray:
    """Score drop under a mean-colour patch of `patch` pixels moved `stride` at a time
    (each pixel: the mean drop over the patches covering it)."""
    x = _batch(probe)
    channels, height, width = x.shape[1:]
    patch = max(1, min(patch, height, width))
    stride = max(1, min(stride, patch))
    with pass_slot(), torch.no_grad():
        drop = _captum().Occlusion(network).attribute(
            x, sliding_window_shapes=(channels, patch, patch),
            strides=(channels, stride, stride), baselines=0.0, target=target,
            perturbations_per_eval=max(1, per_pass))
    return drop[0].mean(0).numpy()


def attributions(network: nn.Module, probe: torch.Tensor, target: int, patch: int,
                 stride: int, per_pass: int) -> Attributions:
    integrated, check = integrated_gradients(network, probe, target, per_pass)
    return Attributions(target, saliency(network, probe, target), integrated,
                        occlusion(network, probe, target, patch, stride, per_pass), check)
