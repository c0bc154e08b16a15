"""Pooling and shifts: how much features change when the input moves, measured on fixed
kernels and on small networks trained on real MNIST digits."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground import spec as S
from playground.data.mnist_subset import load_mnist_subset
from playground.lessons.tensors import float64_tensor
from playground.model import build as M
from playground.train.passes import forward_in_chunks
from playground.train.step import train_step


def shift(image: np.ndarray, dx: int, dy: int = 0) -> np.ndarray:
    """Move the image right by dx and down by dy pixels, filling with zeros."""
    image = np.asarray(image, dtype=np.float64)
    moved = np.zeros_like(image)
    h, w = image.shape
    moved[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return moved


def pooled(features: np.ndarray, pool: int) -> tuple[np.ndarray, np.ndarray]:
    """(max pooled, average pooled) with pool x pool windows and stride pool."""
    x = float64_tensor(features)[None, None]
    return F.max_pool2d(x, pool)[0, 0].numpy(), F.avg_pool2d(x, pool)[0, 0].numpy()


@dataclass
class ShiftResult:
    shifts: list[int]
    change_conv: list[float]   # relative change of the conv+ReLU feature map
    change_max: list[float]    # ... after max pooling
    change_avg: list[float]    # ... after average pooling


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def shift_experiment(image: np.ndarray, kernels: np.ndarray, pool: int = 4,
                     max_shift: int = 4) -> ShiftResult:
    """Shift the input by 0..max_shift pixels to the right and measure how much the
    features change (relative L2 distance to the unshifted features), without pooling and
    after max / average pooling of the conv+ReLU maps (pool x pool windows)."""
    weights = float64_tensor(kernels)
    weights = weights[:, None] if np.ndim(kernels) == 3 else weights[None, None]
    def features(img: np.ndarray) -> torch.Tensor:
        return F.relu(F.conv2d(float64_tensor(img)[None, None], weights,
                               padding=weights.shape[-1] // 2))
    base = features(image)
    result = ShiftResult([], [], [], [])
    for dx in range(max_shift + 1):
        moved = features(shift(image, dx))
        result.shifts.append(dx)
        result.change_conv.append(_relative(moved, base))
        result.change_max.append(_relative(F.max_pool2d(moved, pool), F.max_pool2d(base, pool)))
        result.change_avg.append(_relative(F.avg_pool2d(moved, pool), F.avg_pool2d(base, pool)))
    return result


@functools.lru_cache(maxsize=1)
def mnist_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The embedded MNIST subset as float32 images in [0, 1], [N, 1, 28, 28], and int64
    labels: what the lessons' small networks train and test on."""
    subset = load_mnist_subset()
    return subset.images.float() / 255, subset.labels


def shift_batch(images: torch.Tensor, dx: int) -> torch.Tensor:
    """Images [N, C, H, W] moved dx pixels to the right, zeros coming in."""
    if dx == 0:
        return images
    return F.pad(images, (dx, 0))[..., :images.shape[-1]]


def shift_spec(pool: int) -> S.ModelSpec:
    """conv 5x5 (8) + ReLU, then max pooling pool x pool (none when pool is 1), then the
    automatic flatten + linear head."""
    layers = [{"type": "conv", "out_channels": 8, "kernel_size": 5, "padding": 2},
              {"type": "relu"}]
    if pool > 1:
        layers.append({"type": "maxpool", "kernel_size": pool})
    return S.parse_spec({"version": 1, "name": f"shift test, pool {pool}",
                         "input": [1, 28, 28], "num_classes": 10, "layers": layers})


def shift_network(pool: int, seed: int = 0) -> nn.Module:
    """The network of `shift_spec(pool)`, built from its spec like every other network,
    with its own generator so the global RNG of other runs is left alone."""
    return M.build_model(shift_spec(pool), generator=torch.Generator().manual_seed(seed))


def shift_images_per_pass(pool: int) -> int:
    """Images per forward pass of the shift network, from the one activation budget."""
    return M.images_per_pass(M.analyze(shift_spec(pool)))


@dataclass
class ModelShift:
    pool: int
    shifts: list[int]
    accuracy: list[float]        # test accuracy on inputs shifted by each amount
    unchanged: list[float]       # fraction of predictions equal to the unshifted ones
    feature_change: list[float]  # mean relative change of what the classifier reads
    network: nn.Module | None = field(default=None, repr=False)  # the trained model
    test_indices: torch.Tensor | None = field(default=None, repr=False)


def model_shift_experiment(pool: int, max_shift: int = 4, epochs: int = 2,
                           train_count: int = 4000, seed: int = 0,
                           augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor]
                           | None = None) -> ModelShift:
    """Train a small model (with or without max pooling) on real MNIST digits, then
    measure its test accuracy, how many predictions stay the same, and how much the
    features the classifier reads change (relative L2, per digit, averaged) as the test
    digits are shifted right by 0..max_shift pixels. `augment(batch, generator)`, when
    given, transforms every training batch (drawn from its own seeded generator)."""
    images, labels = mnist_digits()
    if not 0 < train_count <= len(labels) - 1000:
        raise ValueError(f"train_count must be 1..{len(labels) - 1000} (1,000 are for testing)")
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    train, test = order[:train_count], order[-1000:]
    network = shift_network(pool, seed)
    optimizer = torch.optim.Adam(network.parameters(), lr=2e-3)
    augment_generator = torch.Generator().manual_seed(seed + 1)
    network.train()
    for _ in range(epochs):
        for start in range(0, len(train), 64):
            batch = train[start:start + 64]
            inputs = images[batch] if augment is None else augment(images[batch],
                                                                   augment_generator)
            train_step(network, optimizer, inputs, labels[batch])
    network.eval()
    result = ModelShift(pool, [], [], [], [], network, test)
    features = network[:-1]      # everything before the final linear layer
    per_pass = shift_images_per_pass(pool)
    with torch.no_grad():
        base_features = forward_in_chunks(features, images[test], per_pass)
        base = network[-1](base_features).argmax(1)
        for dx in range(max_shift + 1):
            moved = forward_in_chunks(features, shift_batch(images[test], dx), per_pass)
            predicted = network[-1](moved).argmax(1)
            result.shifts.append(dx)
            result.accuracy.append(float((predicted == labels[test]).double().mean()))
            result.unchanged.append(float((predicted == base).double().mean()))
            change = ((moved - base_features).norm(dim=1)
                      / base_features.norm(dim=1).clamp_min(1e-12))
            result.feature_change.append(float(change.mean()))
    return result
