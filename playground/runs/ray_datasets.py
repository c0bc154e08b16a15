"""Datasets in Ray's object store: loaded once for the cluster, read once per node.

The registry actor loads a dataset the first time a run asks for it and puts it into the
object store as uint8 images (a quarter of the float32 size; MNIST is 55 MB) and int64
labels. Ray copies an object to a node once, into that node's shared memory, and every run
actor there maps the same pages; each run then normalises its own float32 copy, exactly as
the thread backend's loader does. Images that are not whole uint8 values after
un-normalising (a test's synthetic data) travel as float32 unchanged.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from playground.data import datasets as D

EXACT_CHECK_IMAGES = 64  # images un-normalised and normalised again to prove uint8 is exact


@dataclass(frozen=True)
class PackedDataset:
    """A Dataset as plain arrays: what goes into the object store."""

    name: str
    train_x: np.ndarray      # uint8 [N, C, H, W], or float32 already normalised
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    is_subset: bool

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.train_x, self.train_y, self.test_x, self.test_y))


def pack(data: D.Dataset) -> PackedDataset:
    mean, std = torch.tensor(data.mean), torch.tensor(data.std)
    images = [data.train_x, data.test_x]
    if _uint8_is_exact(data.train_x, mean, std):
        images = [_to_uint8(x, mean, std) for x in images]
    arrays = [x.contiguous().numpy() for x in images]
    return PackedDataset(data.name, arrays[0], data.train_y.numpy(), arrays[1],
                         data.test_y.numpy(), tuple(data.classes), tuple(data.mean),
                         tuple(data.std), data.source, data.is_subset)


def unpack(packed: PackedDataset) -> D.Dataset:
    """A Dataset of this process's own tensors (the object store's pages are read-only)."""
    mean, std = torch.tensor(packed.mean), torch.tensor(packed.std)

    def images(array: np.ndarray) -> torch.Tensor:
        if array.dtype != np.uint8:
            return torch.from_numpy(array.copy())
        # Normalising reads the shared pages into a new float32 tensor: the uint8 bytes
        # themselves are never copied into this process.
        return D._normalise(_shared_tensor(array), mean, std)

    return D.Dataset(name=packed.name, train_x=images(packed.train_x),
                     train_y=torch.from_numpy(packed.train_y.copy()),
                     test_x=images(packed.test_x), test_y=torch.from_numpy(packed.test_y.copy()),
                     classes=list(packed.classes), mean=packed.mean, std=packed.std,
                     source=packed.source, is_subset=packed.is_subset)


def _to_uint8(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    scale, shift = std.view(1, -1, 1, 1) * 255, mean.view(1, -1, 1, 1) * 255
    return (images * scale + shift).round_().clamp_(0, 255).to(torch.uint8)


def _uint8_is_exact(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> bool:
    sample = images[:EXACT_CHECK_IMAGES]
    again = D._normalise(_to_uint8(sample, mean, std), mean, std)
    return bool(torch.allclose(again, sample, atol=1e-5, rtol=0))


def _shared_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor over the object store's read-only pages without copying them; torch warns
    about read-only memory, and nothing writes to it (it is only read, to normalise)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)
