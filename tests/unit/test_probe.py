"""Probe inputs: upload checks and decoding, MNIST-style centring, canvas, test choices."""
from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from playground.analysis import probe as P


def png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def digit_on_paper(height=100, width=80) -> np.ndarray:
    """A dark bar (a "1") on white paper, off centre."""
    paper = np.full((height, width), 255, dtype=np.uint8)
    paper[10:70, 10:22] = 0
    return paper


def test_header_sizes_of_png_and_jpeg():
    image = np.zeros((37, 53, 3), dtype=np.uint8)
    assert P.image_size(png(image)) == (53, 37)
    ok, jpeg = cv2.imencode(".jpg", image)
    assert P.image_size(jpeg.tobytes()) == (53, 37)
    assert P.image_size(b"GIF89a....") is None


def test_upload_of_a_digit_is_centred_by_mass():
    image = P.decode_upload(png(digit_on_paper()), 1, 28, 28, centre_digit=True)
    assert image.shape == (1, 28, 28) and image.dtype == np.uint8
    ys, xs = np.indices((28, 28))
    mass = image[0].astype(float)
    assert abs((ys * mass).sum() / mass.sum() - 13.5) < 0.6
    assert abs((xs * mass).sum() / mass.sum() - 13.5) < 0.6
    rows = np.nonzero(image[0].max(1) > 64)[0]
    assert 18 <= rows.max() - rows.min() + 1 <= 21  # the ink fits the 20-pixel box
    assert image[0, 0, 0] == 0  # paper became black background


def test_colour_upload_becomes_rgb_at_the_dataset_size():
    bgr = np.zeros((64, 48, 3), dtype=np.uint8)
    bgr[..., 2] = 255  # pure red in OpenCV's BGR order
    image = P.decode_upload(png(bgr), 3, 32, 32)
    assert image.shape == (3, 32, 32)
    assert image[0].min() == 255 and image[1].max() == 0 and image[2].max() == 0


def test_transparent_png_is_flattened_on_white():
    bgra = np.zeros((10, 10, 4), dtype=np.uint8)
    image = P.decode_upload(png(bgra), 1, 10, 10)
    assert image.min() == 255


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"hello world", "only PNG and JPEG"),
    (b"\xff\xd8\xff\xd9", "damaged"),
])
def test_bad_uploads_get_clear_messages(data, message):
    with pytest.raises(P.ProbeError, match=message):
        P.decode_upload(data, 1, 28, 28)


def test_oversized_file_is_refused_before_decoding():
    with pytest.raises(P.ProbeError, match="limit is 10 MB"):
        P.decode_upload(b"\x89PNG\r\n\x1a\n" + bytes(P.MAX_UPLOAD_BYTES), 1, 28, 28)


def test_decompression_bomb_is_refused_from_its_header():
    # A valid PNG header claiming 100000 x 100000 pixels, a few bytes long.
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    data = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)))
    with pytest.raises(P.ProbeError, match="megapixels"):
        P.decode_upload(data, 1, 28, 28)


def test_undecodable_png_body():
    data = png(np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(P.ProbeError, match="could not be decoded"):
        P.decode_upload(data[:40] + b"\x00" * 20, 1, 28, 28)


def test_canvas_drawing_is_centred_and_empty_canvas_is_none():
    rgba = np.zeros((200, 200, 4), dtype=np.uint8)
    assert P.from_canvas(rgba, 1, 28, 28) is None
    rgba[20:120, 20:50] = 255
    image = P.from_canvas(rgba, 1, 28, 28)
    assert image.shape == (1, 28, 28) and image.max() > 200


def test_normalise_and_back():
    image = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4) * 5
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.4, 0.3)
    tensor = P.to_tensor(image, mean, std)
    np.testing.assert_allclose(P.to_display(tensor, mean, std),
                               image.transpose(1, 2, 0) / 255, atol=1e-6)


class Threshold(nn.Module):
    """Predicts class 1 when the image sum is positive, else 0."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        positive = (x.flatten(1).sum(1) > 0).float()
        return torch.stack([1 - positive, positive], dim=1)


def test_next_mistake_searches_forward_and_wraps():
    images = torch.ones(10, 1, 2, 2)
    labels = torch.ones(10, dtype=torch.long)
    labels[[2, 7]] = 0  # the network says 1 everywhere: images 2 and 7 are mistakes
    network = Threshold()
    assert P.next_mistake(network, images, labels, after=-1, batch=3) == 2
    assert P.next_mistake(network, images, labels, after=2, batch=3) == 7
    assert P.next_mistake(network, images, labels, after=7, batch=3) == 2
    assert P.next_mistake(network, images, torch.ones(10, dtype=torch.long)) is None
    np.testing.assert_array_equal(P.class_indices(labels, 0), [2, 7])
