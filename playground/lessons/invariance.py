"""What a CNN does not handle for free: rotated, rescaled and moved digits (OpenCV), and
how far data augmentation gets the pooling lesson's network."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

from playground.lessons.pooling import (mnist_digits, model_shift_experiment,
                                        shift_images_per_pass)
from playground.train.passes import forward_in_chunks


ROBUST_POOL = 2   # the pooling lesson's shift network, with 2x2 max pooling


def warp_matrix(height: int, width: int, angle: float = 0.0, scale: float = 1.0,
                dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """OpenCV's 2x3 affine matrix: rotation by `angle` degrees (counter-clockwise) and
    rescaling about the image centre, then a move by (dx, dy) pixels."""
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, scale)
    matrix[:, 2] += (dx, dy)
    return matrix


def warp(image: np.ndarray, angle: float = 0.0, scale: float = 1.0, dx: float = 0.0,
         dy: float = 0.0) -> np.ndarray:
    """Rotate and rescale about the centre, then move, with `cv2.warpAffine`; black comes
    in at the borders."""
    image = np.asarray(image, dtype=np.float32)
    h, w = image.shape
    matrix = warp_matrix(h, w, angle, scale, dx, dy)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def warp_batch(images: torch.Tensor, angles, scales, shifts=None) -> torch.Tensor:
    """`warp` applied to each image [N, 1, H, W] with its own angle, scale and (dx, dy)."""
    count = images.shape[0]
    shifts = np.zeros((count, 2)) if shifts is None else np.asarray(shifts, dtype=np.float64)
    angles = np.broadcast_to(np.asarray(angles, dtype=np.float64), (count,))
    scales = np.broadcast_to(np.asarray(scales, dtype=np.float64), (count,))
    array = images[:, 0].numpy()
    out = np.stack([warp(array[n], angles[n], scales[n], *shifts[n]) for n in range(count)])
    return torch.from_numpy(out)[:, None]


@dataclass(frozen=True)
class AugmentRange:
    """Random rotation, rescaling and shift drawn for every training image."""

    degrees: float = 30.0
    scale_low: float = 0.8
    scale_high: float = 1.2
    shift: float = 2.0

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        draws = torch.rand(images.shape[0], 4, generator=generator, dtype=torch.float64)
        draws = draws.numpy()
        angles = (2 * draws[:, 0] - 1) * self.degrees
        scales = self.scale_low + draws[:, 1] * (self.scale_high - self.scale_low)
        shifts = (2 * draws[:, 2:] - 1) * self.shift
        return warp_batch(images, angles, scales, shifts)


ANGLES = tuple(range(-180, 181, 30))


SCALES = tuple(round(0.5 + 0.1 * n, 1) for n in range(11))   # 0.5 ... 1.5


SHIFTS = tuple(range(-6, 7))


PROBE_ANGLES = tuple(range(-180, 181, 10))   # one digit only: finer steps are cheap


PROBE_SCALES = tuple(round(0.5 + 0.05 * n, 2) for n in range(21))


CURVE_DIGITS = 500   # test digits per point of the curves: enough for +-2% at 2 cores' speed


@dataclass
class RobustnessCurves:
    """Test accuracy of a trained model as the test digits are rotated, rescaled or moved
    (OpenCV), one value per step."""

    name: str
    angles: list[float]
    angle_accuracy: list[float]
    scales: list[float]
    scale_accuracy: list[float]
    shifts: list[int]
    shift_accuracy: list[float]


def _accuracy(network: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    logits = forward_in_chunks(network, images, shift_images_per_pass(ROBUST_POOL))
    return float((logits.argmax(1) == labels).double().mean())


def robustness_curves(name: str, network: nn.Module, images: torch.Tensor,
                      labels: torch.Tensor, angles=ANGLES, scales=SCALES,
                      shifts=SHIFTS) -> RobustnessCurves:
    network.eval()
    return RobustnessCurves(
        name, list(angles), [_accuracy(network, warp_batch(images, a, 1.0), labels)
                             for a in angles],
        list(scales), [_accuracy(network, warp_batch(images, 0.0, s), labels) for s in scales],
        list(shifts), [_accuracy(network, warp_batch(images, 0.0, 1.0, [(d, 0)] * len(images)),
                                 labels) for d in shifts])


@dataclass
class TrainedProbe:
    name: str
    network: nn.Module
    curves: RobustnessCurves
    train_accuracy_note: str


def train_robust_pair(train_count: int = 4000, epochs: int = 2, seed: int = 0,
                      augment: AugmentRange = AugmentRange()) -> list[TrainedProbe]:
    """The pooling lesson's shift network trained twice on the same digits (with
    `pooling.model_shift_experiment`): once as is, once with random rotations, rescaling and
    shifts; then both measured on the same rotated, rescaled and moved test digits."""
    images, labels = mnist_digits()
    pairs = []
    for name, extra in (("no augmentation", None), ("augmented", augment)):
        trained = model_shift_experiment(ROBUST_POOL, max_shift=0, epochs=epochs,
                                         train_count=train_count, seed=seed, augment=extra)
        test = trained.test_indices[:CURVE_DIGITS]
        curves = robustness_curves(name, trained.network, images[test], labels[test])
        pairs.append(TrainedProbe(name, trained.network, curves,
                                  f"{trained.accuracy[0]:.1%} on the untouched test digits"))
    return pairs


@dataclass
class ProbeSweep:
    """One digit's prediction and confidence (softmax) along one transformation."""

    values: list[float]
    predicted: list[int]
    confidence: list[float]      # probability of the predicted class
    true_probability: list[float]  # probability of the true class
    images: np.ndarray           # [steps, H, W] the warped digits


def probe_sweep(network: nn.Module, image: np.ndarray, label: int, kind: str,
                values) -> ProbeSweep:
    """Warp one digit in steps ("angle" in degrees, "scale" as a factor, "shift" in pixels
    to the right) and read the trained model's softmax at each step."""
    makers = {"angle": lambda v: warp(image, angle=v), "scale": lambda v: warp(image, scale=v),
              "shift": lambda v: warp(image, dx=v)}
    if kind not in makers:
        raise ValueError(f"kind must be one of {', '.join(makers)}, got {kind!r}")
    warped = np.stack([makers[kind](v) for v in values])
    network.eval()
    logits = forward_in_chunks(network, torch.from_numpy(warped)[:, None],
                               shift_images_per_pass(ROBUST_POOL))
    probs = torch.softmax(logits, 1).double()
    return ProbeSweep(list(values), probs.argmax(1).tolist(), probs.max(1).values.tolist(),
                      probs[:, label].tolist(), warped)
