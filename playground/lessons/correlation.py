"""Cross-correlation (what conv2d computes) against convolution (the kernel flipped)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from playground.lessons.convolution import conv_reference


def is_symmetric_180(kernel: np.ndarray, tol: float = 1e-12) -> bool:
    """True when rotating the kernel by 180 degrees leaves it unchanged."""
    kernel = np.asarray(kernel, dtype=np.float64)
    return bool(np.allclose(kernel, kernel[::-1, ::-1], atol=tol))


@dataclass
class CorrConv:
    correlation: np.ndarray  # what conv2d computes: no flip
    convolution: np.ndarray  # the textbook operation: the kernel rotated by 180 degrees
    flipped: np.ndarray
    max_difference: float
    symmetric: bool


def correlation_vs_convolution(image: np.ndarray, kernel: np.ndarray) -> CorrConv:
    """Both operations with 'valid' windows, through `F.conv2d`."""
    kernel = np.asarray(kernel, dtype=np.float64)
    flipped = kernel[::-1, ::-1].copy()
    correlation = conv_reference(image, kernel)
    convolution = conv_reference(image, flipped)
    return CorrConv(correlation, convolution, flipped,
                    float(np.abs(correlation - convolution).max()), is_symmetric_180(kernel))
