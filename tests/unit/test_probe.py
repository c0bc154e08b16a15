"""Probe inputs: upload checks and decoding, MNIST-style centring, canvas, test choices."""
from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from playground.analysis import probe as P
from tests.support import ROOT


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


# --- decoded size, peak memory and decoding once ------------------------------------------

def png_chunk(kind: bytes, body: bytes) -> bytes:
    checksum = struct.pack(">I", zlib.crc32(kind + body))
    return struct.pack(">I", len(body)) + kind + body + checksum


def blank_png(width: int, height: int, bits: int = 16, colour: int = 6,
              extra: bytes = b"") -> bytes:
    """A valid PNG of zeros, any size, written in milliseconds: deflate output for a run of
    zeros after a full flush repeats byte for byte, so one piece is written many times."""
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    total = (1 + math.ceil(width * samples * bits / 8)) * height  # a filter byte per row
    piece = 2**20
    packer = zlib.compressobj(9)
    start = packer.compress(bytes(piece)) + packer.flush(zlib.Z_FULL_FLUSH)
    repeat = packer.compress(bytes(piece)) + packer.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(total, piece)
    end = packer.compress(bytes(rest)) + packer.flush()
    stream = (start if count else start[:2]) + repeat * (count - 1 if count else 0)
    adler = (total % 65521) << 16 | 1  # Adler-32 of zeros: a = 1, b = length
    stream += end[:-4] + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, bits, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + extra
            + png_chunk(b"IDAT", stream) + png_chunk(b"IEND", b""))


PALETTE = png_chunk(b"PLTE", bytes(range(6)))


@pytest.mark.parametrize("bits, colour, extra", [
    (8, 0, b""), (16, 0, b""), (1, 0, b""), (8, 2, b""), (16, 2, b""), (8, 4, b""),
    (16, 4, b""), (8, 6, b""), (16, 6, b""), (8, 3, PALETTE),
    (8, 3, PALETTE + png_chunk(b"tRNS", b"\x00")), (8, 2, png_chunk(b"tRNS", bytes(6))),
])
def test_the_header_says_how_many_bytes_a_png_decodes_to(bits, colour, extra):
    data = blank_png(37, 21, bits, colour, extra)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert P.read_header(data).picture_bytes == decoded.nbytes


def test_a_16_bit_rgba_bomb_under_the_pixel_cap_is_refused_by_its_decoded_bytes():
    bomb = blank_png(6_300, 6_300, bits=16, colour=6)
    assert len(bomb) < 400_000 and 6_300 * 6_300 <= P.MAX_PIXELS
    with pytest.raises(P.ProbeError) as error:
        P.decode_upload(bomb, 1, 28, 28)
    assert str(error.value) == ("the image is 6,300 x 6,300 pixels of 4 channels at 16 bits, "
                                "which takes 606 MB to decode; the limit is 128 MB")


def test_a_large_jpeg_is_decoded_already_shrunk():
    picture = np.zeros((3000, 2000, 3), np.uint8)
    picture[:1500] = 255
    data = cv2.imencode(".jpg", picture)[1].tobytes()
    header = P.read_header(data)
    assert header.shrink == 2 and header.picture_bytes == 1500 * 1000 * 3
    small = P.load_upload(data)
    assert small.shape == (1024, 683, 3) and small[0].min() > 250 and small[-1].max() < 5
    assert not small.flags.writeable


def test_the_same_upload_is_decoded_once(monkeypatch):
    decodes = []
    real_imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode",
                        lambda *args: decodes.append(1) or real_imdecode(*args))
    data = png(digit_on_paper(101, 79))
    before = P.UPLOADS.stats()
    first = P.decode_upload(data, 1, 28, 28, centre_digit=True)
    again = P.decode_upload(data, 1, 28, 28, centre_digit=True)
    other_shape = P.decode_upload(data, 3, 32, 32)
    after = P.UPLOADS.stats()
    assert len(decodes) == 1
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 2)
    np.testing.assert_array_equal(first, again)
    assert other_shape.shape == (3, 32, 32)


def test_a_progressive_jpeg_is_refused_by_the_memory_of_its_coefficients():
    """libjpeg holds every DCT coefficient of a progressive JPEG however much it shrinks
    the picture: 2 bytes a sample, 240 MB for 40 megapixels in full colour."""
    flags = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1,
             cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    data = bytearray(cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8), flags)[1])
    frame = data.index(b"\xff\xc2")
    data[frame + 5:frame + 9] = struct.pack(">HH", 5_000, 8_000)  # now 8,000 x 5,000
    header = P.read_header(bytes(data))
    assert header.shrink == 4 and header.coefficient_bytes == 8_000 * 5_000 * 3 * 2
    with pytest.raises(P.ProbeError) as error:
        P.decode_upload(bytes(data), 1, 28, 28)
    assert str(error.value) == ("the image is a progressive JPEG of 8,000 x 5,000 pixels, "
                                "which takes 243 MB to decode; the limit is 128 MB")


MEMORY_PROBE = r"""
import json, sys
import cv2, numpy as np
from playground.analysis import probe as P

def kilobytes(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))

def measure(data):
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak (VmHWM) starts again from here
    before = kilobytes("VmRSS")
    if kilobytes("VmHWM") > before + 1024:
        sys.exit(3)  # this kernel cannot reset the peak: nothing to measure with
    try:
        P.decode_upload(data, 1, 28, 28)
        outcome = "decoded"
    except P.ProbeError as error:
        outcome = str(error)
    return {"outcome": outcome, "growth_mb": (kilobytes("VmHWM") - before) / 1024}

photo = np.zeros((5000, 8000, 3), np.uint8)
photo[:, :4000] = 200
progressive = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]
files = {path: open(path, "rb").read() for path in sys.argv[1:]}
files["jpeg"] = cv2.imencode(".jpg", photo)[1].tobytes()
files["progressive"] = cv2.imencode(".jpg", photo[:4000, :6000], progressive)[1].tobytes()
del photo
results = {name: measure(data) for name, data in files.items()}
results["again"] = measure(files[sys.argv[2]])
results["hits"] = P.UPLOADS.stats().hits
print(json.dumps(results))
"""


def test_peak_memory_of_an_upload_is_bounded_by_the_decoding_cap(tmp_path):
    """Measured in a fresh process: its peak RSS (VmHWM, reset before each decode) minus
    its RSS before the decode. Bound: the cap plus 16 MB of scratch."""
    bomb, largest = tmp_path / "bomb.png", tmp_path / "largest.png"
    bomb.write_bytes(blank_png(6_300, 6_300, bits=16, colour=6))
    side = math.isqrt(P.MAX_DECODING_BYTES // (8 * P.DECODE_COPIES))  # 16-bit RGBA
    largest.write_bytes(blank_png(side, side, bits=16, colour=6))
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(bomb), str(largest)],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    if result.returncode == 3 or "clear_refs" in result.stderr:
        pytest.skip("this kernel cannot reset a process's peak RSS (/proc/self/clear_refs)")
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    bound_mb = P.MAX_DECODING_BYTES / 2**20 + 16
    assert measured[str(bomb)]["outcome"].endswith("which takes 606 MB to decode; the limit "
                                                   "is 128 MB")
    assert measured[str(bomb)]["growth_mb"] < 4
    for name in (str(largest), "jpeg", "progressive"):  # 16-bit RGBA, 40 and 24 megapixels
        assert measured[name]["outcome"] == "decoded", name
        assert measured[name]["growth_mb"] < bound_mb, name
    assert measured["jpeg"]["growth_mb"] < 24  # a baseline JPEG is decoded at 1/4 size
    assert measured["again"]["growth_mb"] < 2 and measured["hits"] == 1


@pytest.mark.parametrize("offset, value", [(2, b"\x00\x02"),   # a frame of no bytes
                                           (9, b"\x00")])          # no components
def test_a_damaged_jpeg_frame_header_is_refused(offset, value):
    data = bytearray(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8),
                                  [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1])
    frame = data.index(b"\xff\xc2")
    data[frame + offset:frame + offset + len(value)] = value
    with pytest.raises(P.ProbeError, match="damaged"):
        P.decode_upload(bytes(data), 1, 28, 28)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["png", "jpeg", "progressive"]),
       changes=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
       cut=st.integers(1, 2_000))
def test_damaged_headers_are_refused_in_one_line(kind, changes, cut):
    """Any byte of a small PNG or JPEG changed, or the file cut: an image or a ProbeError."""
    picture = np.zeros((24, 20, 3), np.uint8)
    picture[4:12, 5:9] = 200
    flags = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1] if kind == "progressive" else []
    data = bytearray(cv2.imencode(".png" if kind == "png" else ".jpg", picture, flags)[1])
    for position, value in changes:
        data[position % len(data)] = value
    try:
        image = P.decode_upload(bytes(data[:cut]), 1, 28, 28)
    except P.ProbeError as error:
        assert "\n" not in str(error) and str(error)
    else:
        assert image.shape == (1, 28, 28)
