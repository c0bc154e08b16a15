"""A small dataset of drawn shapes (one class per shape) as a zip archive, for the tests
that upload a dataset: real PNG files in class folders, learnable above chance in seconds."""
from __future__ import annotations

import io
import zipfile

import cv2
import numpy as np

SHAPES = ("circle", "square", "triangle")


def shape_image(shape: str, rng: np.random.Generator, size: int = 28,
                colour: bool = False) -> np.ndarray:
    """One white shape of random size and place on a noisy dark background."""
    image = rng.integers(0, 40, (size, size, 3 if colour else 1), dtype=np.uint8)
    image = np.ascontiguousarray(image)
    ink = tuple(int(v) for v in rng.integers(180, 256, 3)) if colour else (255,)
    radius = int(rng.integers(size // 5, size // 3))
    cx, cy = (int(v) for v in rng.integers(radius + 1, size - radius - 1, 2))
    if shape == "circle":
        cv2.circle(image, (cx, cy), radius, ink, -1)
    elif shape == "square":
        cv2.rectangle(image, (cx - radius, cy - radius), (cx + radius, cy + radius), ink, -1)
    else:
        points = np.array([[cx, cy - radius], [cx - radius, cy + radius],
                           [cx + radius, cy + radius]], dtype=np.int32)
        cv2.fillPoly(image, [points], ink)
    return image


def png(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def shapes_files(per_class: int = 40, seed: int = 0, size: int = 28, colour: bool = False,
                 top: str = "shapes", split: bool = False) -> dict[str, bytes]:
    """{path: PNG bytes}: `top/<shape>/<n>.png`, or `top/{train,test}/<shape>/<n>.png`."""
    rng = np.random.default_rng(seed)
    files = {}
    for shape in SHAPES:
        for n in range(per_class):
            folder = f"{'test' if n % 5 == 0 else 'train'}/{shape}" if split else shape
            path = f"{top}/{folder}/{n:03d}.png" if top else f"{folder}/{n:03d}.png"
            files[path] = png(shape_image(shape, rng, size, colour))
    return files


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return buffer.getvalue()
