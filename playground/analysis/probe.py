"""The probe input of the Inspect page: a test image, an uploaded picture or a drawn digit.

Plain numpy/OpenCV/torch (no Streamlit). Uploads are checked before decoding: the file
size is capped, and the pixel count is read from the PNG or JPEG header so that a
decompression bomb (a small file that decodes to gigapixels) is refused without being
decoded. Every refusal is a `ProbeError` whose message is one line for the user.
"""
from __future__ import annotations

import struct

import cv2
import numpy as np
import torch
from torch import nn

from playground.train.passes import pass_slot

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
DIGIT_BOX = 20  # MNIST: the digit fits a 20x20 box, centred by mass in a 28x28 frame
MISTAKE_BATCH = 256


class ProbeError(ValueError):
    """An upload or drawing cannot be used; the message is written for the user."""


# --- header sizes ---------------------------------------------------------------------------

def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header, or None when it is neither."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ProbeError("the PNG file is damaged (no image header)")
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int]:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise ProbeError("the JPEG file is damaged (bad marker)")
        marker = data[position + 1]
        if marker == 0xFF:          # fill byte
            position += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        length = struct.unpack(">H", data[position + 2:position + 4])[0]
        if marker in _JPEG_SOF:
            if position + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        position += 2 + length
    raise ProbeError("the JPEG file is damaged (no frame header)")


# --- decoding and conversion ----------------------------------------------------------------

def decode_upload(data: bytes, channels: int, height: int, width: int,
                  centre_digit: bool = False) -> np.ndarray:
    """PNG/JPEG bytes -> uint8 [channels, height, width] ready for `to_tensor`.

    Gray datasets get one channel; with `centre_digit` the picture is treated as a digit
    the MNIST way (dark ink on light paper is inverted, the ink is fitted into a 20x20
    box and centred by its centre of mass). Colour datasets get RGB resized to fit.
    """
    if len(data) == 0:
        raise ProbeError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ProbeError(f"the file is {len(data) / 2**20:.1f} MB; the limit is "
                         f"{MAX_UPLOAD_BYTES // 2**20} MB")
    size = image_size(data)
    if size is None:
        raise ProbeError("only PNG and JPEG images can be used")
    if size[0] * size[1] > MAX_PIXELS or 0 in size:
        raise ProbeError(f"the image is {size[0]:,} x {size[1]:,} pixels; the limit is "
                         f"{MAX_PIXELS // 1_000_000} megapixels")
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ProbeError("the image could not be decoded (damaged or unsupported file)")
    return convert(image, channels, height, width, centre_digit)


def _flatten_alpha(image: np.ndarray) -> np.ndarray:
    """uint8/uint16 HxW, HxWx3 (BGR) or HxWx4 (BGRA) -> uint8 HxWx3 BGR on white."""
    if image.dtype != np.uint8:
        image = (image.astype(np.float64) / np.iinfo(image.dtype).max * 255).round()
        image = image.astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        alpha = image[..., 3:].astype(np.float32) / 255
        white = np.full_like(image[..., :3], 255, dtype=np.float32)
        return (image[..., :3] * alpha + white * (1 - alpha)).round().astype(np.uint8)
    if image.shape[2] == 1:
        return cv2.cvtColor(image[..., 0], cv2.COLOR_GRAY2BGR)
    return image[..., :3]


def convert(image: np.ndarray, channels: int, height: int, width: int,
            centre_digit: bool = False) -> np.ndarray:
    """An OpenCV image (BGR/BGRA/gray) -> uint8 [channels, height, width]."""
    bgr = _flatten_alpha(image)
    if channels == 1:
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        if centre_digit:
            return centre_by_mass(gray, height, width)[None]
        return _resize(gray, height, width)[None]
    if channels != 3:
        raise ProbeError(f"the network takes {channels} channels; only 1 or 3 are supported")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return _resize(rgb, height, width).transpose(2, 0, 1).copy()


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    shrinking = image.shape[0] > height or image.shape[1] > width
    return cv2.resize(image, (width, height),
                      interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def centre_by_mass(gray: np.ndarray, height: int = 28, width: int = 28,
                   box: int | None = None) -> np.ndarray:
    """A digit the MNIST way: white ink on black, fitted into a box x box square (aspect
    kept) and moved so its centre of mass is the frame's centre. uint8 [height, width].

    A picture whose border is mostly light (ink on paper) is inverted first.
    """
    gray = np.asarray(gray, dtype=np.uint8)
    box = box or round(DIGIT_BOX * min(height, width) / 28)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if border.mean() > 127:
        gray = 255 - gray
    ink = gray > 0.2 * gray.max() if gray.max() > 0 else np.zeros_like(gray, dtype=bool)
    if not ink.any():
        return np.zeros((height, width), dtype=np.uint8)
    rows, cols = np.nonzero(ink)
    crop = gray[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = box / max(crop.shape)
    new_h, new_w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    crop = cv2.resize(crop, (new_w, new_h),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    frame = np.zeros((height, width), dtype=np.float32)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    frame[top:top + new_h, left:left + new_w] = crop
    mass = frame.sum()
    if mass > 0:
        ys, xs = np.indices(frame.shape)
        shift_y = (height - 1) / 2 - (ys * frame).sum() / mass
        shift_x = (width - 1) / 2 - (xs * frame).sum() / mass
        matrix = np.float32([[1, 0, shift_x], [0, 1, shift_y]])
        frame = cv2.warpAffine(frame, matrix, (width, height), flags=cv2.INTER_LINEAR,
                               borderValue=0)
    return np.clip(frame, 0, 255).round().astype(np.uint8)


def from_canvas(rgba: np.ndarray, channels: int, height: int, width: int) -> np.ndarray | None:
    """A drawing canvas's RGBA pixels (light strokes on dark) -> uint8 [C, H, W], or None
    while nothing is drawn. Digits are centred the MNIST way."""
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] < 3:
        raise ProbeError(f"unexpected canvas image shape {list(rgba.shape)}")
    rgb = rgba[..., :3].astype(np.float32)
    if rgba.shape[2] == 4:  # transparent background counts as black
        rgb *= rgba[..., 3:].astype(np.float32) / 255
    rgb = rgb.round().astype(np.uint8)
    if rgb.max() < 32:
        return None
    if channels == 1:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        return centre_by_mass(gray, height, width)[None]
    return _resize(rgb, height, width).transpose(2, 0, 1).copy()


def to_tensor(image: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 [C, H, W] -> float32 [C, H, W] normalised like the dataset."""
    x = torch.as_tensor(np.asarray(image, dtype=np.float32) / 255)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return (x - mean_t) / std_t


def to_display(probe: torch.Tensor, mean: tuple[float, ...],
               std: tuple[float, ...]) -> np.ndarray:
    """A normalised [C, H, W] probe back to float [H, W, C] in [0, 1] for drawing."""
    x = probe.detach().to("cpu", torch.float32)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return (x * std_t + mean_t).clamp(0, 1).permute(1, 2, 0).numpy()


# --- test-set choices -----------------------------------------------------------------------

def class_indices(labels: torch.Tensor, class_index: int) -> np.ndarray:
    """Test-set positions of the images of one class, in order."""
    return torch.nonzero(labels.cpu() == class_index).flatten().numpy()


def next_mistake(network: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                 after: int = -1, batch: int = MISTAKE_BATCH) -> int | None:
    """Position of the first misclassified test image after `after` (wrapping around), or
    None when the network gets every image right. Evaluates batch by batch and stops at
    the first mistake, so it is quick even for a slow network; `batch` is at most
    `model.build.images_per_pass` of the network, so a batch stays within the budget."""
    total = len(labels)
    if total == 0:
        return None
    start = (after + 1) % total
    order = list(range(start, total, batch)) + list(range(0, start, batch))
    device = next((p.device for p in network.parameters()), torch.device("cpu"))
    for first in order:
        last = min(first + batch, total if first >= start else start)
        with torch.no_grad(), pass_slot():
            x = images[first:last].to(device, torch.float32)
            predicted = network(x).argmax(1).cpu()
        wrong = torch.nonzero(predicted != labels[first:last].cpu()).flatten()
        if len(wrong):
            return first + int(wrong[0])
    return None
