"""The frequency view: low- and high-pass kernels, and the convolution theorem checked
with the FFT (`analysis.spectra`)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from playground.analysis.spectra import (circular_filter, kernel_spectrum, kernel_transfer,
                                         radial_profile)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """OpenCV's sampled Gaussian, size 2*ceil(3 sigma)+1, summing to 1."""
    size = 2 * math.ceil(3 * sigma) + 1
    g = cv2.getGaussianKernel(size, sigma, cv2.CV_64F)
    return g @ g.T


def high_pass(kernel: np.ndarray) -> np.ndarray:
    """Identity minus a low-pass kernel: keeps what the blur removes (edges)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    identity = np.zeros_like(kernel)
    identity[kernel.shape[0] // 2, kernel.shape[1] // 2] = 1.0
    return identity - kernel


@dataclass
class TheoremCheck:
    filtered: np.ndarray        # circular filtering in space
    product_spectrum: np.ndarray  # fft2(image) * H
    max_error: float            # |fft2(filtered) - product| max


def convolution_theorem(image: np.ndarray, kernel: np.ndarray) -> TheoremCheck:
    filtered = circular_filter(image, kernel)
    product = np.fft.fft2(np.asarray(image, dtype=np.float64)) * kernel_transfer(
        kernel, np.asarray(image).shape)
    return TheoremCheck(filtered, product,
                        float(np.abs(np.fft.fft2(filtered) - product).max()))


def half_power_cutoff(kernel: np.ndarray, size: int = 64) -> float:
    """The radial frequency (cycles/pixel) where the kernel's |H| first falls to half of
    its DC value, from its radial profile; 0.5 when it never does."""
    radius, profile = radial_profile(kernel_spectrum(kernel, size=size))
    dc = profile[0] if profile[0] > 0 else 1.0
    below = np.nonzero(profile < dc / 2)[0]
    return float(radius[below[0]]) if below.size else 0.5
