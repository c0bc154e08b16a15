"""The pictures the lessons work on: a real photo, its gray version and real MNIST digits.

Each falls back to a drawn picture when the package that ships it is not installed, so
the Learn page still works (with less interesting images).
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import cv2
import numpy as np

from playground.data.mnist_subset import example_index, load_mnist_subset


def _package_file(package: str, *parts: str) -> Path | None:
    """A data file shipped inside an installed package, found without importing it."""
    found = importlib.util.find_spec(package)
    locations = list(found.submodule_search_locations or []) if found else []
    path = Path(locations[0]).joinpath(*parts) if locations else None
    return path if path is not None and path.is_file() else None


def _synthetic_photo(size: int) -> np.ndarray:
    """A fallback RGB picture (gradient, disc, bars) when no sample photo is installed."""
    y, x = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    disc = ((x - 0.35) ** 2 + (y - 0.4) ** 2 < 0.06).astype(np.float64)
    bars = (np.sin(x * 18) > 0.3).astype(np.float64) * (y > 0.65)
    return np.clip(np.stack([0.3 + 0.6 * disc, 0.2 + 0.5 * x, 0.8 * y * (1 - disc) + bars],
                            axis=-1), 0, 1)


def sample_photo(size: int = 64) -> np.ndarray:
    """A copy of the sample photo (see `_sample_photo`): callers may draw on it."""
    return _sample_photo(size).copy()


@functools.lru_cache(maxsize=8)
def _sample_photo(size: int) -> np.ndarray:
    """A real colour photo (matplotlib's Grace Hopper sample), square-cropped and resized
    with OpenCV to size x size: float64 [H, W, 3] RGB in [0, 1]."""
    path = _package_file("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path else None
    if image is None:
        return _synthetic_photo(size)
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 4, (image.shape[1] - side) // 2  # keep the face
    crop = image[top:top + side, left:left + side]
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float64) / 255.0


def sample_gray(size: int = 64) -> np.ndarray:
    """The sample photo in gray (OpenCV's luma weights): float64 [H, W] in [0, 1]."""
    rgb = (sample_photo(size) * 255).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0


def sample_digit(digit: int = 0) -> np.ndarray:
    """A copy of the lessons' example of `digit` (see `_sample_digit`)."""
    return _sample_digit(digit).copy()


@functools.lru_cache(maxsize=16)
def _sample_digit(digit: int) -> np.ndarray:
    """A real 28x28 MNIST digit showing `digit` from the embedded subset, float64 in
    [0, 1] (a drawn "0"-like ring when the subset is not installed)."""
    try:
        subset = load_mnist_subset()
    except FileNotFoundError:
        subset = None
    row = example_index(digit, subset) if subset is not None else None
    if row is not None:
        return subset.images[row, 0].numpy().astype(np.float64) / 255.0
    y, x = np.mgrid[0:28, 0:28]
    radius = np.hypot(y - 14, (x - 14) * 1.4)
    return np.clip(1 - np.abs(radius - 8) / 2.5, 0, 1)


def crop(image: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """A size x size float64 copy of the image from (top, left)."""
    return np.asarray(image, dtype=np.float64)[top:top + size, left:left + size].copy()
