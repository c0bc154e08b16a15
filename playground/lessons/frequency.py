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


# |H| where the power |H|^2 is half its DC value: the -3 dB point a "cutoff" names.
HALF_POWER = 1 / math.sqrt(2)


def magnitude_cutoff(kernel: np.ndarray, level: float, size: int = 64) -> float:
    """The radial frequency (cycles/pixel) where the kernel's |H| first falls to `level`
    times its DC value, read off its radial profile and interpolated between rings; 0.5
    when it never does."""
    radius, profile = radial_profile(kernel_spectrum(kernel, size=size))
    target = level * (profile[0] if profile[0] > 0 else 1.0)
    below = np.nonzero(profile < target)[0]
    if not below.size:
        return 0.5
    if below[0] == 0:
        return 0.0
    after, before = below[0], below[0] - 1
    share = (profile[before] - target) / (profile[before] - profile[after])
    return float(radius[before] + share * (radius[after] - radius[before]))


def gaussian_half_power_frequency(sigma: float) -> float:
    """The closed form: exp(-2 pi^2 sigma^2 f^2) = 1/sqrt(2) at f = sqrt(ln 2) / (2 pi sigma)."""
    return math.sqrt(math.log(2)) / (2 * math.pi * sigma)


def half_power_cutoff(kernel: np.ndarray, size: int = 64) -> float:
    """Where |H| falls to 1/sqrt(2) of DC (half the power); for a Gaussian see
    `gaussian_half_power_frequency`."""
    return magnitude_cutoff(kernel, HALF_POWER, size)
