"""Data augmentation on a batch tensor, drawn independently for every image.

torchvision's v2 transforms draw one random crop for a whole batch tensor, which would
shift every image the same way; per-image draws need the few lines below.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(images: torch.Tensor, max_shift: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by its own random (dy, dx) in [-max_shift, max_shift], zero-filled.

    Equivalent to a random crop of the image padded by max_shift on every side.
    """
    if max_shift <= 0:
        return images
    batch, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, batch), generator=generator,
                            device=generator.device if generator else "cpu").to(images.device)
    rows = torch.arange(height, device=images.device)[None, :] + offsets[0][:, None]
    cols = torch.arange(width, device=images.device)[None, :] + offsets[1][:, None]
    batch_index = torch.arange(batch, device=images.device)[:, None, None, None]
    channel_index = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[batch_index, channel_index, rows[:, None, :, None], cols[:, None, None, :]]


def random_hflip(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2, independently."""
    flip = torch.rand(images.shape[0], generator=generator,
                      device=generator.device if generator else "cpu").to(images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def augment_batch(images: torch.Tensor, dataset_name: str,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """The playground's augmentation: shifts for digits; crop (pad 4) and flips for photos.

    Digits are not mirrored: a flipped 2 or 7 is not a digit any more.
    """
    if dataset_name.startswith(("mnist", "fashion")):
        return random_shift(images, 2, generator)
    return random_hflip(random_shift(images, 4, generator), generator)
