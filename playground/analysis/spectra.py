"""Frequency views of kernels and images: 2-D FFT magnitudes, radial profiles, band and
orientation labels, and circular filtering for the convolution theorem (arrays in and out).
`frequency_view`, `reference_views` and `theorem_view` compute everything the frequency
figures draw, so the builders only draw.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

DB_EPS = 1e-8  # keeps log10 finite at the exact zeros of a kernel's spectrum


# --- frequency response -------------------------------------------------------------------

def spectra(weights: torch.Tensor, size: int, db: bool) -> torch.Tensor:
    """|FFT2| over the last two dims, zero-padded to size x size, DC in the centre."""
    if size < max(weights.shape[-2:]):
        raise ValueError(f"size {size} is smaller than the kernel {list(weights.shape[-2:])}")
    magnitude = torch.fft.fft2(weights.double(), s=(size, size)).abs()
    magnitude = torch.fft.fftshift(magnitude, dim=(-2, -1))
    return 20 * torch.log10(magnitude + DB_EPS) if db else magnitude


def kernel_spectrum(kernel2d: np.ndarray, size: int = 32, db: bool = False) -> np.ndarray:
    """Magnitude of one 2-D kernel's frequency response on a size x size grid."""
    kernel = torch.as_tensor(np.asarray(kernel2d, dtype=np.float64))
    if kernel.dim() != 2:
        raise ValueError(f"expected a 2-D kernel, got shape {list(kernel.shape)}")
    return spectra(kernel, size, db).numpy()


def _frequency_radius(shape: tuple[int, int]) -> np.ndarray:
    """Distance of each fftshifted bin from DC, in cycles/sample."""
    fy = np.fft.fftshift(np.fft.fftfreq(shape[0]))
    fx = np.fft.fftshift(np.fft.fftfreq(shape[1]))
    return np.hypot(fy[:, None], fx[None, :])


def radial_profile(spectrum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of an fftshifted spectrum on rings of integer radius around DC.

    Returns (radii in cycles/sample from 0 to 0.5, mean value per ring). The corners beyond
    0.5 are left out: they are not whole rings.
    """
    spectrum = np.asarray(spectrum, dtype=np.float64)
    n = min(spectrum.shape)
    ring = np.rint(_frequency_radius(spectrum.shape) * n).astype(np.int64)
    inside = ring <= n // 2
    sums = np.bincount(ring[inside], weights=spectrum[inside], minlength=n // 2 + 1)
    counts = np.bincount(ring[inside], minlength=n // 2 + 1)
    return np.arange(n // 2 + 1) / n, sums / counts


LOW_BAND, HIGH_BAND = 0.125, 0.375  # cycles/sample: the band edges of frequency_label
DOMINANT_SHARE = 0.5


def frequency_label(kernel2d: np.ndarray, size: int = 32) -> str:
    """"low-pass", "band-pass", "high-pass" or "mixed/flat".

    Rule: split the power spectrum |H|^2 into three bands by radius from DC: low (radius
    <= 1/8 cycles/sample, DC included), middle (1/8 .. 3/8) and high (>= 3/8, corners
    included). Take each band's mean power, so a band's size does not count, and name the
    band holding at least half of the sum of the three means. A flat spectrum (a delta
    kernel) gives each band a third, and so does a kernel that passes both ends equally:
    both are "mixed/flat". Box and Gaussian blurs are low-pass, a Laplacian or a pixel
    difference high-pass, a Sobel (a smoothed derivative, zero at DC and at Nyquist)
    band-pass.
    """
    power = kernel_spectrum(kernel2d, size) ** 2
    radius = _frequency_radius(power.shape)
    bands = [power[radius <= LOW_BAND].mean(),
             power[(radius > LOW_BAND) & (radius < HIGH_BAND)].mean(),
             power[radius >= HIGH_BAND].mean()]
    total = sum(bands)
    if total == 0:
        return "mixed/flat"  # an all-zero kernel passes nothing
    best = int(np.argmax(bands))
    if bands[best] / total < DOMINANT_SHARE:
        return "mixed/flat"
    return ("low-pass", "band-pass", "high-pass")[best]


# --- orientation, reference kernels, filtering --------------------------------------------

ORIENTED_SHARE = 0.4  # orientation_selectivity at or above this: "orientation-selective"


def dominant_orientation(kernel2d: np.ndarray, size: int = 32) -> tuple[float, float]:
    """(angle in degrees in [0, 180), selectivity in [0, 1]) of a kernel's spectrum.

    Convention: the angle is the direction of the frequency vector that carries the most
    power, counter-clockwise from the image's x axis (left to right) with y pointing up.
    It is the direction across which the kernel responds to change, so it is
    perpendicular to the edges it finds: Sobel-x (a derivative along x, a vertical-edge
    detector) gives 0 degrees, Sobel-y 90 degrees.

    Computed as the power-weighted mean of the doubled angle (a frequency and its mirror
    image through DC are the same orientation); the selectivity is the length of that
    mean: 0 for a spectrum with 90-degree symmetry (box, Gaussian, Laplacian), near 1 when
    all power lies on one line through DC.
    """
    power = kernel_spectrum(kernel2d, size) ** 2
    fy = np.fft.fftshift(np.fft.fftfreq(power.shape[0]))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(power.shape[1]))[None, :]
    theta = np.arctan2(-fy, fx)  # rows grow downwards; angles count with y up
    weights = power * (np.hypot(fy, fx) > 0)
    total = weights.sum()
    if total <= 0:
        return 0.0, 0.0
    mean = (weights * np.exp(2j * theta)).sum() / total
    angle = float(np.degrees(np.angle(mean)) / 2) % 180.0
    return round(angle, 6) % 180.0, float(abs(mean))


def kernel_character(kernel2d: np.ndarray, size: int = 32) -> tuple[str, float | None]:
    """(label, angle): "orientation-selective" with its angle in degrees when the
    selectivity of `dominant_orientation` is at least ORIENTED_SHARE, else the band label
    of `frequency_label` and None."""
    angle, selectivity = dominant_orientation(kernel2d, size)
    if selectivity >= ORIENTED_SHARE:
        return "orientation-selective", angle
    return frequency_label(kernel2d, size), None


def reference_kernels() -> dict[str, np.ndarray]:
    """Textbook 3x3 / 5x5 filters to compare learned kernels with (float64)."""
    gauss = np.exp(-np.arange(-2, 3) ** 2 / 2.0)
    gauss = np.outer(gauss, gauss)
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
    return {
        "box (mean)": np.full((3, 3), 1 / 9),
        "Gaussian": gauss / gauss.sum(),
        "Sobel x": sobel_x,
        "Sobel y": sobel_x.T.copy(),
        "Laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64),
    }


def circular_filter(image2d: np.ndarray, kernel2d: np.ndarray) -> np.ndarray:
    """What `conv2d` computes (a cross-correlation), with circular padding so the output
    keeps the image's size and the convolution theorem holds exactly (see
    `kernel_transfer`)."""
    image = torch.as_tensor(np.asarray(image2d, dtype=np.float64))[None, None]
    kernel = torch.as_tensor(np.asarray(kernel2d, dtype=np.float64))[None, None]
    kh, kw = kernel.shape[-2:]
    padded = F.pad(image, (kw // 2, kw - 1 - kw // 2, kh // 2, kh - 1 - kh // 2),
                   mode="circular")
    return F.conv2d(padded, kernel)[0, 0].numpy()


def kernel_transfer(kernel2d: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Complex transfer function H on an image grid of `shape` (not shifted), such that
    fft2(circular_filter(x, k)) == fft2(x) * H: the kernel is flipped (cross-correlation
    is convolution with the flipped kernel) and wrapped around so its centre sits at 0."""
    kernel = np.asarray(kernel2d, dtype=np.float64)
    kh, kw = kernel.shape
    embedded = np.zeros(shape)
    flipped = kernel[::-1, ::-1]
    for u in range(kh):
        for v in range(kw):
            # flipped[u, v] = kernel[kh-1-u, kw-1-v] acts at offset (u - (kh-1-kh//2), ...)
            embedded[(u - (kh - 1 - kh // 2)) % shape[0],
                     (v - (kw - 1 - kw // 2)) % shape[1]] += flipped[u, v]
    return np.fft.fft2(embedded)


def centred_magnitude(image2d: np.ndarray, db: bool = False) -> np.ndarray:
    """|fft2| of an image with DC in the centre, linear or in dB."""
    magnitude = np.abs(np.fft.fftshift(np.fft.fft2(np.asarray(image2d, dtype=np.float64))))
    return 20 * np.log10(magnitude + DB_EPS) if db else magnitude


# --- what the frequency figures draw ------------------------------------------------------

DB_RANGE = 60          # a kernel's dB view shows this much below its peak, not -160 dB zeros
THEOREM_DB_RANGE = 80  # the convolution theorem's dB views (image spectra reach lower)


@dataclass(frozen=True)
class FrequencyView:
    """One kernel in frequency: its zero-padded centred spectrum, the spectrum's radial
    profile, and its character (`kernel_character`), linear or in dB."""

    kernel: np.ndarray        # [k, k] float64
    spectrum: np.ndarray      # [size, size], DC in the centre; dB floored at DB_RANGE
    frequencies: np.ndarray   # [size] cycles/pixel of each row and column of `spectrum`
    radii: np.ndarray         # cycles/pixel, 0 to 0.5
    profile: np.ndarray       # mean of the spectrum on each ring (in dB when db)
    db: bool
    label: str
    angle: float | None       # degrees, for an orientation-selective kernel
    bands: tuple[float, float] = (LOW_BAND, HIGH_BAND)  # the label's band edges

    @property
    def unit(self) -> str:
        return "dB" if self.db else "|H|"


def frequency_view(kernel2d: np.ndarray, db: bool = False, size: int = 32) -> FrequencyView:
    kernel = np.asarray(kernel2d, dtype=np.float64)
    spectrum = kernel_spectrum(kernel, size, db=db)
    radii, profile = radial_profile(kernel_spectrum(kernel, size))
    if db:
        profile = 20 * np.log10(profile + DB_EPS)
        spectrum = np.maximum(spectrum, float(np.max(spectrum)) - DB_RANGE)
    label, angle = kernel_character(kernel, size)
    return FrequencyView(kernel, spectrum, np.fft.fftshift(np.fft.fftfreq(size)), radii,
                         profile, db, label, angle)


def reference_views(db: bool = False, size: int = 32) -> dict[str, FrequencyView]:
    """`frequency_view` of each of the `reference_kernels`, by name."""
    return {name: frequency_view(kernel, db, size)
            for name, kernel in reference_kernels().items()}


@dataclass(frozen=True)
class TheoremView:
    """A kernel's effect on an image in space and in frequency (circular padding), where
    |FFT filtered| = |FFT image| x |H| holds exactly (in dB: a sum)."""

    image: np.ndarray              # [H, W]
    kernel: np.ndarray             # [k, k]
    filtered: np.ndarray           # [H, W] = circular_filter(image, kernel)
    image_spectrum: np.ndarray     # the three centred magnitudes, [H, W] each, floored
    transfer: np.ndarray           # at THEOREM_DB_RANGE below their common peak in dB
    filtered_spectrum: np.ndarray
    db: bool


def theorem_view(image2d: np.ndarray, kernel2d: np.ndarray, db: bool = True) -> TheoremView:
    image = np.asarray(image2d, dtype=np.float64)
    kernel = np.asarray(kernel2d, dtype=np.float64)
    filtered = circular_filter(image, kernel)
    transfer = np.abs(np.fft.fftshift(kernel_transfer(kernel, image.shape)))
    magnitudes = [centred_magnitude(image, db),
                20 * np.log10(transfer + DB_EPS) if db else transfer,
                centred_magnitude(filtered, db)]
    if db:
        top = max(float(s.max()) for s in magnitudes)
        magnitudes = [np.maximum(s, top - THEOREM_DB_RANGE) for s in magnitudes]
    return TheoremView(image, kernel, filtered, *magnitudes, db)
