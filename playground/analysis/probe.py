"""The probe input of the Inspect page: a test image, an uploaded picture or a drawn digit.

Plain numpy/OpenCV/torch (no Streamlit). Uploads are checked before decoding: the file
size is capped, and the header's size, bit depth and channels say how many pixels and how
many bytes the picture decodes to, so a decompression bomb (a small file that decodes to
gigapixels or gigabytes) is refused without being decoded. A JPEG is decoded already
shrunk (libjpeg scales by 1/2, 1/4 or 1/8 while decoding), a PNG is shrunk right after
decoding; all later work is on a picture at most `WORKING_SIDE` pixels long, in float32.
Each upload is decoded once per content for the whole process (`UPLOADS`). Every refusal
is a `ProbeError` whose message is one line for the user.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

from playground.data.upload_cache import UploadCache
from playground.train.passes import pass_slot

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
# What decoding one upload may hold at its peak: 128 MB takes a 5K screenshot with alpha
# (118 MB) and 40-megapixel baseline JPEGs (decoded shrunk); a larger need is refused.
MAX_DECODING_BYTES = 128 * 2**20
# OpenCV (5.1) decodes into a buffer of its own and copies the picture out of it: the
# peak of a decode is twice the picture (measured for every PNG colour type and JPEGs).
DECODE_COPIES = 2
# Longer side of the picture kept after decoding: four times the largest input (256), so
# a digit that fills a quarter of a photo still has detail when it is centred.
WORKING_SIDE = 1024
DIGIT_BOX = 20  # MNIST: the digit fits a 20x20 box, centred by mass in a 28x28 frame
MISTAKE_BATCH = 256
FLATTEN_BAND_BYTES = 4 * 2**20  # float32 scratch of one band of rows when removing alpha
UPLOADS = UploadCache(max_bytes=32 * 2**20, max_entries=32, max_decoding=2)


class ProbeError(ValueError):
    """An upload or drawing cannot be used; the message is written for the user."""


# --- headers ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageHeader:
    """What a PNG or JPEG header says about decoding it, before anything is decoded."""

    kind: str                   # "PNG" or "JPEG"
    width: int
    height: int
    bits: int                   # bits per sample in the file
    channels: int               # channels OpenCV decodes it to
    sample_bytes: int = 1       # bytes per decoded sample
    shrink: int = 1             # the JPEG decoder's scale-down: 1, 2, 4 or 8
    coefficient_bytes: int = 0  # a progressive JPEG holds all its DCT coefficients

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def picture_bytes(self) -> int:
        """Bytes of the picture OpenCV decodes (already shrunk for a JPEG)."""
        return (math.ceil(self.width / self.shrink) * math.ceil(self.height / self.shrink)
                * self.channels * self.sample_bytes)

    @property
    def decoding_bytes(self) -> int:
        """Peak bytes of decoding: the picture and its copy, plus coefficient buffers."""
        return DECODE_COPIES * self.picture_bytes + self.coefficient_bytes

    def describe(self) -> str:
        if self.coefficient_bytes:
            return f"a progressive JPEG of {self.width:,} x {self.height:,} pixels"
        return (f"{self.width:,} x {self.height:,} pixels of {self.channels} channel"
                f"{'s' if self.channels > 1 else ''} at {self.bits} bits")


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header, or None when it is neither."""
    header = read_header(data)
    return None if header is None else (header.width, header.height)


def read_header(data: bytes) -> ImageHeader | None:
    """The header of a PNG or JPEG, or None when the bytes are neither."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png_header(data)
    if data[:2] == b"\xff\xd8":
        return _jpeg_header(data)
    return None


# PNG colour type -> channels OpenCV gives with IMREAD_UNCHANGED (palette and RGB gain an
# alpha channel when a tRNS chunk makes some colour transparent).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 4, 6: 4}


def _png_header(data: bytes) -> ImageHeader:
    if len(data) < 26 or data[12:16] != b"IHDR":
        raise ProbeError("the PNG file is damaged (no image header)")
    width, height, bits, colour = struct.unpack(">IIBB", data[16:26])
    channels = _PNG_CHANNELS.get(colour, 4)
    if colour in (2, 3) and _png_has_transparency(data):
        channels = 4
    return ImageHeader("PNG", width, height, bits, channels, 2 if bits == 16 else 1)


def _png_has_transparency(data: bytes) -> bool:
    """Whether a tRNS chunk comes before the image data."""
    position = 8
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        if kind == b"tRNS":
            return True
        if kind == b"IDAT":
            return False
        position += 12 + length
    return False


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}
_JPEG_SCALABLE = {0xC0, 0xC1, 0xC2, 0xC9, 0xCA}  # DCT frames that libjpeg decodes scaled


def _jpeg_header(data: bytes) -> ImageHeader:
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
            if position + 10 > len(data):
                break
            return _jpeg_frame(marker, data[position + 4:position + 2 + length])
        position += 2 + length
    raise ProbeError("the JPEG file is damaged (no frame header)")


def _jpeg_frame(marker: int, frame: bytes) -> ImageHeader:
    """A JPEG start-of-frame segment: precision, height, width, then per component
    (id, sampling factors, table)."""
    if len(frame) < 6 or frame[5] == 0:
        raise ProbeError("the JPEG file is damaged (bad frame header)")
    bits, height, width, components = struct.unpack(">BHHB", frame[:6])
    shrink = _jpeg_shrink(width, height) if marker in _JPEG_SCALABLE else 1
    coefficients = 0
    if marker in _JPEG_PROGRESSIVE:
        factors = [(frame[7 + 3 * i] >> 4, frame[7 + 3 * i] & 15)
                   for i in range(components) if 8 + 3 * i < len(frame)]
        coefficients = _jpeg_coefficient_bytes(width, height, factors or [(1, 1)] * components)
    # Read with OpenCV's colour flags: 8-bit BGR at any precision, turned upright by EXIF.
    return ImageHeader("JPEG", width, height, bits, 3, 1, shrink, coefficients)


def _jpeg_shrink(width: int, height: int) -> int:
    """The largest libjpeg scale-down that keeps the longer side at WORKING_SIDE or more."""
    longer = max(width, height)
    return next((s for s in (8, 4, 2) if math.ceil(longer / s) >= WORKING_SIDE), 1)


def _jpeg_coefficient_bytes(width: int, height: int, factors: list[tuple[int, int]]) -> int:
    """Bytes of the whole-image coefficient arrays a progressive JPEG is decoded through:
    one 16-bit value per sample of each component, at its own sampling, in 8x8 blocks."""
    most_h = max(h for h, _ in factors) or 1
    most_v = max(v for _, v in factors) or 1
    total = 0
    for horizontal, vertical in factors:
        columns = math.ceil(math.ceil(width * horizontal / most_h) / 8) * 8
        rows = math.ceil(math.ceil(height * vertical / most_v) / 8) * 8
        total += columns * rows * 2
    return total


# --- decoding and conversion ----------------------------------------------------------------

def decode_upload(data: bytes, channels: int, height: int, width: int,
                  centre_digit: bool = False) -> np.ndarray:
    """PNG/JPEG bytes -> uint8 [channels, height, width] ready for `to_tensor`.

    Gray datasets get one channel; with `centre_digit` the picture is treated as a digit
    the MNIST way (dark ink on light paper is inverted, the ink is fitted into a 20x20
    box and centred by its centre of mass). Colour datasets get RGB resized to fit.
    """
    return convert(load_upload(data), channels, height, width, centre_digit)


def load_upload(data: bytes) -> np.ndarray:
    """Checked PNG/JPEG bytes -> read-only uint8 HxWx3 BGR (transparency on white), its
    longer side at most WORKING_SIDE; decoded once per content for the whole process."""
    header = check_upload(data)
    return UPLOADS.get_or_decode(data, ("probe", WORKING_SIDE),
                                 lambda raw: _decode_small(raw, header))


def check_upload(data: bytes) -> ImageHeader:
    """The header of an upload that may be decoded; ProbeError naming the limit if not."""
    if len(data) == 0:
        raise ProbeError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ProbeError(f"the file is {len(data) / 2**20:.1f} MB; the limit is "
                         f"{MAX_UPLOAD_BYTES // 2**20} MB")
    header = read_header(data)
    if header is None:
        raise ProbeError("only PNG and JPEG images can be used")
    if header.pixels > MAX_PIXELS or header.pixels == 0:
        raise ProbeError(f"the image is {header.width:,} x {header.height:,} pixels; the "
                         f"limit is {MAX_PIXELS // 1_000_000} megapixels")
    if header.decoding_bytes > MAX_DECODING_BYTES:
        raise ProbeError(f"the image is {header.describe()}, which takes "
                         f"{header.decoding_bytes / 2**20:,.0f} MB to decode; the limit is "
                         f"{MAX_DECODING_BYTES // 2**20} MB")
    return header


_JPEG_SHRINK_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
                      4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def _decode_small(data: bytes, header: ImageHeader) -> np.ndarray:
    flag = _JPEG_SHRINK_FLAGS[header.shrink] if header.kind == "JPEG" else cv2.IMREAD_UNCHANGED
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
    except cv2.error:  # OpenCV refuses some damaged headers with an exception
        image = None
    if image is None:
        raise ProbeError("the image could not be decoded (damaged or unsupported file)")
    if image.ndim == 3 and image.shape[2] == 4:
        _flatten_alpha_in_place(image)  # before shrinking: hidden pixels' colours never bleed
        image = _shrink(image, WORKING_SIDE)[..., :3]  # its alpha is opaque now
    else:
        image = _shrink(image, WORKING_SIDE)
    return np.ascontiguousarray(_flatten_alpha(image))


def _flatten_alpha_in_place(image: np.ndarray) -> None:
    """Put an 8- or 16-bit HxWx4 BGRA picture on white in its own colour channels, a band
    of rows at a time so the float32 scratch stays small; its alpha becomes opaque."""
    top = np.iinfo(image.dtype).max
    rows = max(1, FLATTEN_BAND_BYTES // (image.shape[1] * 4 * 4))
    for first in range(0, image.shape[0], rows):
        band = image[first:first + rows]
        alpha = band[..., 3:].astype(np.float32) / top
        band[..., :3] = (band[..., :3] * alpha + top * (1 - alpha)).round()
        band[..., 3] = top


def _shrink(image: np.ndarray, longest: int) -> np.ndarray:
    """The picture with its longer side at most `longest` (aspect kept)."""
    scale = longest / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _flatten_alpha(image: np.ndarray) -> np.ndarray:
    """uint8/uint16 HxW, HxWx3 (BGR) or HxWx4 (BGRA) -> uint8 HxWx3 BGR on white."""
    if image.dtype != np.uint8:  # rounded to 8 bits in one pass, with no float copy
        image = cv2.convertScaleAbs(image, alpha=255 / np.iinfo(image.dtype).max)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        alpha = image[..., 3:].astype(np.float32) / 255
        return (image[..., :3] * alpha + 255 * (1 - alpha)).round().astype(np.uint8)
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
