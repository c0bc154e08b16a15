"""Dataset images as a page draws them: de-normalised to [0, 1] numpy arrays."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from playground.data.augment import augment_batch
from playground.data.datasets import Dataset


def to_display(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Normalised [N, C, H, W] images back to [0, 1] for display."""
    mean_t = torch.tensor(mean).view(1, -1, 1, 1)
    std_t = torch.tensor(std).view(1, -1, 1, 1)
    return (images.detach().cpu().float() * std_t + mean_t).clamp(0, 1).numpy()


def test_images(data: Dataset, indices: Sequence[int]) -> np.ndarray:
    """The test images at `indices`, ready to draw."""
    return to_display(data.test_x[list(indices)], data.mean, data.std)


def augmentation_examples(data: Dataset, draw: int, count: int = 8) -> np.ndarray:
    """The first `count` training images, then the same images augmented with the
    random draw number `draw` (the same draw gives the same pictures)."""
    images = data.train_x[:count]
    generator = torch.Generator().manual_seed(draw)
    shifted = augment_batch(images, data.name, generator)
    return to_display(torch.cat([images, shifted]), data.mean, data.std)
