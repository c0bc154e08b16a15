"""Adversarial noise: the smallest nudges to a probe's pixels that change the network's
mind. FGSM takes one step of size epsilon along the sign of the loss gradient; PGD takes a
few smaller ones, each projected back into the epsilon box around the probe.

Epsilon is in pixel units of the unnormalised [0, 1] image (8/255 is a common choice for
photos); the attack works on pixels, clips them to [0, 1] and normalises them for the
network, so "clip to the data range" holds in normalised space too. Run on a frozen
eval-mode snapshot; every pass holds a pass slot.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.analysis.time_box import TimeBox
from playground.train.passes import chunks, pass_slot, with_gradients

METHODS = ("FGSM", "PGD")
PGD_STEPS = 5
PGD_STEP_SHARE = 2.5      # each PGD step is this times epsilon / steps (Madry et al.)
CURVE_IMAGES = 300        # the fixed test subset of the accuracy curve
CURVE_EPSILONS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
# Seconds between two recomputations while a run trains, at least (`time_box.live_interval`;
# one attack on one probe).
LIVE_EVERY = 2.0


@dataclass
class Normaliser:
    """Pixels [0, 1] <-> the network's normalised input."""

    mean: torch.Tensor        # [1, C, 1, 1]
    std: torch.Tensor

    @classmethod
    def of(cls, mean: tuple[float, ...], std: tuple[float, ...]) -> "Normaliser":
        return cls(torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1),
                   torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def to_pixels(self, normalised: torch.Tensor) -> torch.Tensor:
        return (normalised * self.std + self.mean).clamp(0, 1)

    def to_input(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - self.mean) / self.std


def _gradient_sign(network: nn.Module, norm: Normaliser, pixels: torch.Tensor,
                   labels: torch.Tensor) -> torch.Tensor:
    pixels = pixels.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(network(norm.to_input(pixels)), labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, pixels)
    return grad.sign()


def attack(network: nn.Module, norm: Normaliser, pixels: torch.Tensor, labels: torch.Tensor,
           epsilon: float, method: str) -> torch.Tensor:
    """Adversarial pixels [N, C, H, W] in [0, 1], at most `epsilon` from `pixels` in every
    pixel; `labels` the classes to move away from."""
    if method not in METHODS:
        raise ValueError(f"unknown attack {method!r}; known: {', '.join(METHODS)}")
    if epsilon <= 0:
        return pixels.clone()
    if method == "FGSM":
        return (pixels + epsilon * _gradient_sign(network, norm, pixels, labels)).clamp(0, 1)
    step = PGD_STEP_SHARE * epsilon / PGD_STEPS
    moved = pixels.clone()
    for _ in range(PGD_STEPS):
        moved = moved + step * _gradient_sign(network, norm, moved, labels)
        moved = (pixels + (moved - pixels).clamp(-epsilon, epsilon)).clamp(0, 1)
    return moved


@dataclass
class Attack:
    epsilon: float
    method: str
    label: int                 # the class attacked (the true one, or the prediction)
    image: np.ndarray          # [H, W, C] the probe in [0, 1]
    adversarial: np.ndarray    # [H, W, C]
    perturbation: np.ndarray   # [H, W, C] adversarial - image
    before: np.ndarray         # [num_classes] probabilities
    after: np.ndarray


def attack_probe(network: nn.Module, probe: torch.Tensor, mean: tuple[float, ...],
                 std: tuple[float, ...], epsilon: float, method: str,
                 label: int | None = None) -> Attack:
    """Attack one normalised [C, H, W] probe away from `label` (default: its prediction)."""
    norm = Normaliser.of(mean, std)
    pixels = norm.to_pixels(probe.detach().to("cpu", torch.float32).unsqueeze(0))
    with pass_slot():
        with torch.no_grad():
            before = torch.softmax(network(norm.to_input(pixels)), 1)[0]
        chosen = int(before.argmax()) if label is None else int(label)
        moved = attack(network, norm, pixels, torch.tensor([chosen]), epsilon, method)
        with torch.no_grad():
            after = torch.softmax(network(norm.to_input(moved)), 1)[0]
    image, adversarial = (t[0].permute(1, 2, 0).numpy() for t in (pixels, moved))
    return Attack(epsilon, method, chosen, image, adversarial, adversarial - image,
                  before.numpy(), after.numpy())


@dataclass
class RobustnessCurve:
    epsilons: np.ndarray       # the ones measured (all, unless the time box cut it short)
    accuracy: np.ndarray
    method: str
    images: int
    finished: bool


def accuracy_against_epsilon(network: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                             mean: tuple[float, ...], std: tuple[float, ...], method: str,
                             per_pass: int, time_box: TimeBox,
                             epsilons: tuple[float, ...] = CURVE_EPSILONS) -> RobustnessCurve:
    """Accuracy of the attacked normalised `images` at each epsilon, chunk by chunk within
    the activation budget; stops (keeping the epsilons done) when the time box is over."""
    norm = Normaliser.of(mean, std)
    pixels = norm.to_pixels(images.to("cpu", torch.float32))
    labels = labels.to("cpu")
    done: list[float] = []
    for n, epsilon in enumerate(epsilons):
        right = 0
        for part in chunks(len(pixels), with_gradients(per_pass)):
            if time_box.over():
                return RobustnessCurve(np.array(epsilons[:len(done)]), np.array(done),
                                       method, len(pixels), False)
            with pass_slot(time_box.should_stop):
                moved = attack(network, norm, pixels[part], labels[part], epsilon, method)
                with torch.no_grad():
                    right += int((network(norm.to_input(moved)).argmax(1) == labels[part]).sum())
        done.append(right / len(pixels))
        time_box.report((n + 1) / len(epsilons), f"epsilon {epsilon:g}: {done[-1]:.0%} right")
    return RobustnessCurve(np.array(epsilons), np.array(done), method, len(pixels), True)


def high_frequency_share(image2d: np.ndarray) -> float:
    """Share of an image's spectral power (its mean removed) above half the Nyquist
    frequency: a quarter of the way out from DC to the corners' 0.5 cycles/pixel."""
    values = np.asarray(image2d, dtype=np.float64)
    power = np.abs(np.fft.fft2(values - values.mean())) ** 2
    fy = np.fft.fftfreq(values.shape[0])[:, None]
    fx = np.fft.fftfreq(values.shape[1])[None, :]
    total = power.sum()
    return float(power[np.hypot(fy, fx) > 0.25].sum() / total) if total > 0 else 0.0
