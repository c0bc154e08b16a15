"""What each filter wants to see: the input that most excites one conv channel (the mean
of its rectified output) or one class (its logit), found by gradient ascent from faint
noise.

A channel's plain mean output would be a poor target: for a linear filter such as an edge
detector, the mean over the image telescopes to the border pixels. Rectified, as the ReLU
after a conv passes it on, the mean asks for many strong responses, so an edge filter
wants stripes at its own orientation; a small leak keeps a gradient where the response
is negative.

The usual regularisers keep the images readable instead of adversarial speckle: a random
jitter of a pixel or two each step (a pattern must work wherever it lands), a small blur
every few steps (high frequencies fade unless the gradient keeps asking for them),
clipping to the data range [0, 1] (the network never saw anything else), and each
image's mean brightness held at the dataset's (else a filter whose weights sum positive
wins with a plain white image: true but useless). On MNIST that leaves 13% of the pixels'
worth of white to place: strokes on a dark ground, like the digits. The work is
time-boxed and runs on a snapshot whose weights are frozen: gradients reach the images
only. All channels (or classes) are optimised together, in batches of the activation
budget, one step per batch in turn, so a cut-short run leaves every image equally far.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.analysis import spectra
from playground.analysis.time_box import TimeBox
from playground.train.passes import pass_slot, with_gradients

STEPS = 64
LEARNING_RATE = 0.05      # Adam, in pixel units of the [0, 1] image
START_NOISE = 0.02        # standard deviation of the starting noise around the data mean
JITTER = 1                # pixels, each way
BLUR_EVERY = 4            # steps
BLUR_SIGMA = 0.5          # pixels
MAX_IMAGES = 64           # channels drawn per request
LEAK = 0.1                # negative slope of the rectifier on a channel's response
# Time box of one ascent, by input size, on a 2-core CPU.
SMALL_INPUT_SECONDS = 5.0     # MNIST-sized inputs
LARGE_INPUT_SECONDS = 15.0    # CIFAR-10-sized and larger
# Seconds between two ascents while a run trains, at least (`time_box.live_interval`).
LIVE_EVERY = 10.0


def time_limit(input_shape: tuple[int, ...]) -> float:
    channels, height, width = input_shape
    return SMALL_INPUT_SECONDS if channels * height * width <= 28 * 28 else LARGE_INPUT_SECONDS


@dataclass
class FavouriteImages:
    """One optimised image per channel or class, and how much it excites its target."""

    targets: np.ndarray       # channel or class index of each image
    images: np.ndarray        # [N, H, W, C] in [0, 1]
    start: np.ndarray         # [N] the target's activation on the starting noise (a
                              #     channel's rectified mean, a class's logit)
    final: np.ndarray         # [N] ... on the optimised image
    steps: int                # gradient steps each image got
    seconds: float
    finished: bool            # False when the time box cut the ascent short


class _Reached(Exception):
    """Raised by a hook once the wanted layer has run: the rest of the network is skipped."""


def _conv_objective(network: nn.Module, conv_name: str):
    """images -> [N, C_out, H', W'] output of conv `conv_name` (the layers after it skipped)."""
    conv = network.get_submodule(conv_name)
    seen: dict[str, torch.Tensor] = {}

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        seen["out"] = output
        raise _Reached

    def forward(images: torch.Tensor) -> torch.Tensor:
        handle = conv.register_forward_hook(hook)
        try:
            network(images)
        except _Reached:
            pass
        finally:
            handle.remove()
        return seen.pop("out")

    return forward


def _gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    offsets = torch.arange(-1, 2, dtype=images.dtype)
    taps = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    taps = taps / taps.sum()
    channels = images.shape[1]
    kernel = (taps[:, None] * taps[None, :]).expand(channels, 1, 3, 3).contiguous()
    return F.conv2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), kernel, groups=channels)


def _hold_mean(pixels: torch.Tensor, mean: torch.Tensor) -> None:
    """Each image's channels back to the data's mean brightness `mean` [1, C, 1, 1], then
    clipped to [0, 1] (in place; clipping may move the mean a little)."""
    pixels.sub_(pixels.mean(dim=(2, 3), keepdim=True) - mean).clamp_(0, 1)


class _Ascent:
    """One batch of images climbing towards their targets."""

    def __init__(self, targets: torch.Tensor, shape: tuple[int, ...], mean: torch.Tensor,
                 generator: torch.Generator) -> None:
        self.targets = targets
        start = mean + START_NOISE * torch.randn(len(targets), *shape, generator=generator)
        self.pixels = start.clamp(0, 1).requires_grad_(True)
        self.start = self.pixels.detach().clone()
        self.optimizer = torch.optim.Adam([self.pixels], lr=LEARNING_RATE)


def _score(forward, pixels: torch.Tensor, targets: torch.Tensor, mean: torch.Tensor,
           std: torch.Tensor, conv: bool) -> torch.Tensor:
    """[N]: each image's target activation (a channel's mean output, or a class logit)."""
    out = forward((pixels - mean) / std)
    rows = torch.arange(len(targets))
    if not conv:
        return out[rows, targets]
    return F.leaky_relu(out[rows, targets], LEAK).flatten(1).mean(1)


def favourite_images(network: nn.Module, input_shape: tuple[int, int, int],
                     mean: tuple[float, ...], std: tuple[float, ...],
                     conv_name: str | None, targets: list[int], per_pass: int,
                     time_box: TimeBox, steps: int = STEPS, seed: int = 0) -> FavouriteImages:
    """Favourite images of conv `conv_name`'s channels `targets`, or of the classes
    `targets` when `conv_name` is None. `network` must be a frozen eval-mode snapshot;
    `per_pass` is the forward passes' chunk size (`model.build.images_per_pass`)."""
    conv = conv_name is not None
    forward = _conv_objective(network, conv_name) if conv else network
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    generator = torch.Generator().manual_seed(seed)
    wanted = torch.as_tensor(targets[:MAX_IMAGES], dtype=torch.long)
    batches = [_Ascent(part, input_shape, mean_t, generator)
               for part in torch.split(wanted, with_gradients(per_pass))]
    done = 0
    with torch.enable_grad():
        while done < steps and not time_box.over():
            for batch in batches:
                with pass_slot(time_box.should_stop):
                    shift = torch.randint(-JITTER, JITTER + 1, (2,), generator=generator)
                    jittered = torch.roll(batch.pixels, tuple(shift.tolist()), dims=(2, 3))
                    loss = -_score(forward, jittered, batch.targets, mean_t, std_t, conv).sum()
                    batch.optimizer.zero_grad()
                    loss.backward()
                    batch.optimizer.step()
                with torch.no_grad():
                    if (done + 1) % BLUR_EVERY == 0:
                        batch.pixels.copy_(_gaussian_blur(batch.pixels, BLUR_SIGMA))
                    _hold_mean(batch.pixels, mean_t)
            done += 1
            time_box.report(done / steps, f"gradient step {done} of {steps}")
    with torch.no_grad(), pass_slot():
        start = torch.cat([_score(forward, b.start, b.targets, mean_t, std_t, conv)
                           for b in batches])
        final = torch.cat([_score(forward, b.pixels, b.targets, mean_t, std_t, conv)
                           for b in batches])
    images = torch.cat([b.pixels.detach() for b in batches]).permute(0, 2, 3, 1)
    return FavouriteImages(wanted.numpy(), images.numpy(), start.numpy(), final.numpy(),
                           done, time_box.elapsed(), done >= steps)


def grey(image: np.ndarray) -> np.ndarray:
    """[H, W, C] -> [H, W] channel mean, its own mean removed (for its spectrum)."""
    flat = np.asarray(image, dtype=np.float64).mean(axis=2)
    return flat - flat.mean()


@dataclass
class FavouriteSpectrum:
    """A favourite image beside its kernel in frequency, on the same grid."""

    target: int
    image: np.ndarray            # [H, W] grey, mean removed
    image_spectrum: np.ndarray   # [H, W] |FFT|, DC in the centre
    kernel_spectrum: np.ndarray  # [H, W] |H| of the kernel summed over its input channels
    image_angle: float           # degrees, `spectra.dominant_orientation`'s convention
    kernel_angle: float


def strongest(found: FavouriteImages, count: int) -> list[int]:
    """Positions in `found` of the `count` images that excite their target most."""
    return [int(n) for n in np.argsort(-found.final)[:count]]


def favourite_spectra(found: FavouriteImages, weights: np.ndarray,
                      picks: list[int]) -> list[FavouriteSpectrum]:
    """For each picked image: its spectrum and its channel's kernel's (`weights` [out, in,
    k, k]). The kernel is summed over its input channels: its response to one pattern
    that is the same in every input channel (a grey image, for a first layer on colour)."""
    height, width = found.images.shape[1:3]
    size = min(height, width)
    rows = []
    for n in picks:
        target = int(found.targets[n])
        image = grey(found.images[n])
        kernel = np.asarray(weights[target], dtype=np.float64).sum(0)
        rows.append(FavouriteSpectrum(
            target, image, spectra.centred_magnitude(image),
            spectra.kernel_spectrum(kernel, size),
            spectra.dominant_orientation(image, size)[0],
            spectra.dominant_orientation(kernel, size)[0]))
    return rows
