"""A dataset a user uploads in the page: a `.zip` of class folders, or a picked folder.

Everything that could hurt the server is checked before a single image is decoded: the
upload's size, the number of files, what the archive says it unpacks to (and what it really
unpacks to: a zip may lie), paths that would escape the archive, links, file types, the
pixel count each image's header announces, and the class layout. Each refusal is one line
that names the limit. Then the images are decoded once into uint8 tensors at one square
size, greyscale or colour; images that fail to decode are named and skipped up to 1%.

Layouts: `train/<class>/*` and `test/<class>/*`, or `<class>/*` alone (then a stratified
80/20 split with a fixed seed). A single folder wrapping either (as zipping a folder makes)
is looked through. Plain Python, numpy and OpenCV (imported when decoding), and uint8
torch tensors out; no Streamlit.
"""
from __future__ import annotations

import hashlib
import io
import re
import stat
import struct
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from playground.environment import env_int

Progress = Callable[[str, float], None]

SIZES = (28, 32, 64)            # the square input sizes an upload may be decoded to
SUFFIXES = (".png", ".jpg", ".jpeg")
SPLIT_SEED = 0                  # the 80/20 split is the same on every upload
TEST_FRACTION = 0.2
MIN_CLASSES, MIN_PER_CLASS = 2, 5
MAX_BAD_FRACTION = 0.01         # undecodable images skipped up to this share of all
NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME_CHARS = 64
# What operating systems add to folders and archives; never part of a dataset.
JUNK = re.compile(r"(^|/)(__MACOSX|\.[^/]*|Thumbs\.db|desktop\.ini)(/|$)", re.IGNORECASE)


class UploadError(ValueError):
    """The upload cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class UploadLimits:
    """What one upload may hold. The administrator sets the upload size through the
    environment; the others follow from it or from what a CPU classroom can decode."""

    max_upload_bytes: int = 200 * 2**20
    max_files: int = 70_000
    max_unpacked_bytes: int = 1024 * 2**20  # a zip bomb's declared (or real) size
    max_pixels: int = 4096 * 4096           # per image, read from its header

    @classmethod
    def from_env(cls) -> UploadLimits:
        return cls(max_upload_bytes=env_int("PLAYGROUND_MAX_DATASET_MB", 200) * 2**20,
                   max_files=env_int("PLAYGROUND_MAX_DATASET_FILES", 70_000),
                   max_unpacked_bytes=env_int("PLAYGROUND_MAX_DATASET_UNPACKED_MB", 1024)
                   * 2**20)


@dataclass(frozen=True)
class ImageFile:
    path: str      # relative, "/"-separated, as in the archive or the picked folder
    data: bytes


@dataclass(frozen=True)
class Header:
    """What an image file says about itself before it is decoded."""

    width: int
    height: int
    colour: bool


@dataclass
class Layout:
    """The upload's images by split and class (label i is classes[i])."""

    classes: list[str]
    train: list[tuple[ImageFile, int]]
    test: list[tuple[ImageFile, int]]
    split_note: str                     # how train and test came about, for the page
    headers: dict[str, Header] = field(default_factory=dict, repr=False)

    def counts(self) -> dict[str, tuple[int, int]]:
        """(train, test) images per class name."""
        train = Counter(label for _, label in self.train)
        test = Counter(label for _, label in self.test)
        return {name: (train[i], test[i]) for i, name in enumerate(self.classes)}

    @property
    def size(self) -> int:
        return len(self.train) + len(self.test)

    def decoded_bytes(self, size: int, channels: int) -> int:
        """What the images take decoded at `size` with `channels` (labels aside)."""
        return self.size * channels * size * size


@dataclass
class DecodedUpload:
    """The decoded images: uint8 [N, C, S, S] tensors, int64 labels, and what was skipped."""

    train_x: torch.Tensor = field(repr=False)
    train_y: torch.Tensor = field(repr=False)
    test_x: torch.Tensor = field(repr=False)
    test_y: torch.Tensor = field(repr=False)
    classes: list[str]
    skipped: list[str]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size()
                   for t in (self.train_x, self.train_y, self.test_x, self.test_y))


def dataset_name(file_name: str) -> str:
    """The upload's name in `upload:NAME`: its file or folder name in safe characters."""
    stem = file_name.replace("\\", "/").strip("/").split("/")[0]
    if stem.lower().endswith(".zip"):
        stem = stem[:-4]
    cleaned = NAME_CHARS.sub("_", stem).strip("._")[:MAX_NAME_CHARS]
    return cleaned or "upload"


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


# --- reading: the checks before any decoding ------------------------------------------

def read_zip(data: bytes, limits: UploadLimits) -> list[ImageFile]:
    """The image files in a zip archive, after every check that needs no decoding."""
    _check_upload_size(len(data), limits)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, ValueError, OSError):
        raise UploadError("the file is not a zip archive (expected a .zip of class "
                          "folders)") from None
    for info in members:
        _check_path(info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UploadError(f"{info.filename!r} is a link; links are refused, as they "
                              "can point outside the archive")
    members = [info for info in members if not JUNK.search(info.filename)]
    _check_file_count(len(members), limits)
    declared = sum(info.file_size for info in members)
    if declared > limits.max_unpacked_bytes:
        raise UploadError(f"the archive unpacks to {_mb(declared)}, over the limit of "
                          f"{_mb(limits.max_unpacked_bytes)} unpacked")
    _check_types(info.filename for info in members)
    files, unpacked = [], 0
    for info in members:
        try:
            with archive.open(info) as member:
                # At most one byte more than declared: a member that says it is small and
                # inflates to gigabytes is stopped there (the zip bomb's trick).
                blob = member.read(info.file_size + 1)
        except RuntimeError:
            raise UploadError(f"{info.filename!r} is encrypted; upload an archive without "
                              "a password") from None
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as error:
            raise UploadError(f"{info.filename!r} cannot be unpacked "
                              f"({type(error).__name__}); the archive is damaged") from None
        if len(blob) > info.file_size:
            raise UploadError(f"{info.filename!r} unpacks to more than the "
                              f"{info.file_size:,} bytes the archive declares; refused")
        unpacked += len(blob)
        if unpacked > limits.max_unpacked_bytes:
            raise UploadError(f"the archive unpacks to more than the limit of "
                              f"{_mb(limits.max_unpacked_bytes)} unpacked")
        files.append(ImageFile(info.filename, blob))
    return files


def read_folder(files: Sequence[tuple[str, bytes]], limits: UploadLimits) -> list[ImageFile]:
    """The image files of a folder picked in the browser: (relative path, bytes) pairs."""
    _check_upload_size(sum(len(data) for _, data in files), limits)
    for path, _ in files:
        _check_path(path)
    kept = [(path.replace("\\", "/"), data) for path, data in files
            if not JUNK.search(path.replace("\\", "/"))]
    _check_file_count(len(kept), limits)
    _check_types(path for path, _ in kept)
    return [ImageFile(path, data) for path, data in kept]


def _check_upload_size(size: int, limits: UploadLimits) -> None:
    if size > limits.max_upload_bytes:
        raise UploadError(f"the upload is {_mb(size)}, over the limit of "
                          f"{_mb(limits.max_upload_bytes)} (PLAYGROUND_MAX_DATASET_MB)")


def _check_file_count(count: int, limits: UploadLimits) -> None:
    if count > limits.max_files:
        raise UploadError(f"the upload holds {count:,} files, over the limit of "
                          f"{limits.max_files:,} (PLAYGROUND_MAX_DATASET_FILES)")
    if count == 0:
        raise UploadError("the upload holds no image files")


def _check_path(path: str) -> None:
    """Refuse names that would land outside the archive's own folder if unpacked."""
    normal = path.replace("\\", "/")
    parts = normal.split("/")
    if (normal.startswith("/") or re.match(r"^[A-Za-z]:", normal) or ".." in parts
            or "\0" in normal):
        raise UploadError(f"the path {path!r} leads outside the archive; refused")


def _check_types(paths) -> None:
    for path in paths:
        if not path.lower().endswith(SUFFIXES):
            raise UploadError(f"{path!r} is not a PNG or JPEG image (only .png, .jpg and "
                              ".jpeg files may be in a dataset)")


# --- layout: which file is which class and split --------------------------------------

def arrange(files: list[ImageFile], limits: UploadLimits) -> Layout:
    """Classes and the train/test split from the folders; image headers checked."""
    paths = _strip_wrapper([file.path.replace("\\", "/").split("/") for file in files])
    tops = {parts[0] for parts in paths}
    if tops <= {"train", "test"} and len(tops) == 2:
        layout = _split_layout(files, paths)
    else:
        layout = _class_layout(files, paths)
    _check_classes(layout)
    layout.headers = _read_headers(layout, limits)
    return layout


def _strip_wrapper(paths: list[list[str]]) -> list[list[str]]:
    """`shapes/circle/a.png` -> `circle/a.png` when every file is inside `shapes/`."""
    while (len({parts[0] for parts in paths}) == 1 and all(len(p) >= 3 for p in paths)
           and paths[0][0] not in ("train", "test")):
        paths = [parts[1:] for parts in paths]
    return paths


def _class_layout(files: list[ImageFile], paths: list[list[str]]) -> Layout:
    for file, parts in zip(files, paths):
        if len(parts) != 2:
            raise UploadError(f"{file.path!r} is not directly in a class folder (expected "
                              "<class>/<image>, or train/<class>/<image> and "
                              "test/<class>/<image>)")
    classes = sorted({parts[0] for parts in paths})
    index = {name: i for i, name in enumerate(classes)}
    labelled = [(file, index[parts[0]]) for file, parts in zip(files, paths)]
    labelled.sort(key=lambda item: item[0].path)
    labels = np.array([label for _, label in labelled])
    rng = np.random.default_rng(SPLIT_SEED)
    test_rows: set[int] = set()
    for label in range(len(classes)):
        rows = np.flatnonzero(labels == label)
        count = max(1, round(TEST_FRACTION * len(rows)))
        test_rows.update(int(r) for r in rng.permutation(rows)[:count])
    train = [item for row, item in enumerate(labelled) if row not in test_rows]
    test = [item for row, item in enumerate(labelled) if row in test_rows]
    note = (f"No train/ and test/ folders: {len(test):,} images (20% of each class, drawn "
            f"with the fixed seed {SPLIT_SEED}) are kept aside as the test set.")
    return Layout(classes, train, test, note)


def _split_layout(files: list[ImageFile], paths: list[list[str]]) -> Layout:
    found: dict[str, set[str]] = {"train": set(), "test": set()}
    for file, parts in zip(files, paths):
        if len(parts) != 3:
            raise UploadError(f"{file.path!r} is not directly in a class folder of train/ "
                              "or test/ (expected train/<class>/<image>)")
        found[parts[0]].add(parts[1])
    if found["train"] != found["test"]:
        only_train = ", ".join(sorted(found["train"] - found["test"])) or "none"
        only_test = ", ".join(sorted(found["test"] - found["train"])) or "none"
        raise UploadError(f"train/ and test/ have different class folders (only in train: "
                          f"{only_train}; only in test: {only_test})")
    classes = sorted(found["train"])
    index = {name: i for i, name in enumerate(classes)}
    splits: dict[str, list[tuple[ImageFile, int]]] = {"train": [], "test": []}
    for file, parts in zip(files, paths):
        splits[parts[0]].append((file, index[parts[1]]))
    for items in splits.values():
        items.sort(key=lambda item: item[0].path)
    return Layout(classes, splits["train"], splits["test"],
                  "Train and test images as in the upload's train/ and test/ folders.")


def _check_classes(layout: Layout) -> None:
    if len(layout.classes) < MIN_CLASSES:
        found = ", ".join(layout.classes) or "none"
        raise UploadError(f"found {len(layout.classes)} class folder ({found}); at least "
                          f"{MIN_CLASSES} are needed to learn anything")
    for name, (train, test) in layout.counts().items():
        if train + test < MIN_PER_CLASS:
            count = train + test
            raise UploadError(f"class {name!r} has {count} image{'s' if count != 1 else ''}; "
                              f"each class needs at least {MIN_PER_CLASS}")
        if test == 0:
            raise UploadError(f"class {name!r} has no test images in test/{name}/")


def _read_headers(layout: Layout, limits: UploadLimits) -> dict[str, Header]:
    headers = {}
    for file, _ in layout.train + layout.test:
        header = read_header(file.data)
        if header is None:
            continue  # not a readable PNG or JPEG: the decode names and counts it
        if header.width * header.height > limits.max_pixels:
            raise UploadError(f"{file.path!r} is {header.width}x{header.height} pixels, over "
                              f"the limit of {limits.max_pixels:,} pixels per image")
        headers[file.path] = header
    return headers


def read_header(data: bytes) -> Header | None:
    """Width, height and colour from a PNG's IHDR or a JPEG's frame header; None when the
    bytes are neither."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 26 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return Header(width, height, colour=data[25] in (2, 3, 6))
    if data[:2] == b"\xff\xd8":
        return _jpeg_header(data)
    return None


def _jpeg_header(data: bytes) -> Header | None:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2:at + 4])
        # Start of frame: any SOFn except DHT (C4), JPG (C8) and DAC (CC).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if at + 10 > len(data):
                return None
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return Header(width, height, colour=data[at + 9] >= 3)
        at += 2 + length
    return None


def propose(layout: Layout) -> tuple[int, int]:
    """(size, channels) the page proposes: the smallest size at least the typical image's
    shorter side (64 at most), and colour when any image is in colour."""
    headers = list(layout.headers.values())
    if not headers:
        return SIZES[0], 1
    side = float(np.median([min(h.width, h.height) for h in headers]))
    size = next((s for s in SIZES if side <= s), SIZES[-1])
    return size, 3 if any(h.colour for h in headers) else 1


# --- content hash and decoding --------------------------------------------------------

def content_digest(files: Sequence[ImageFile]) -> str:
    """The SHA-256 of the upload's content: every path and its bytes, in path order, so
    the same images zipped twice or picked as a folder name the same decode."""
    total = hashlib.sha256()
    for file in sorted(files, key=lambda f: f.path):
        total.update(file.path.encode("utf-8", "surrogateescape") + b"\0")
        total.update(hashlib.sha256(file.data).digest())
    return total.hexdigest()


def decode(layout: Layout, size: int, channels: int,
           progress: Progress | None = None) -> DecodedUpload:
    """Every image as uint8 [C, size, size]; undecodable ones skipped up to 1%."""
    if size not in SIZES:
        raise UploadError(f"size {size} is not one of {', '.join(map(str, SIZES))}")
    if channels not in (1, 3):
        raise UploadError(f"channels must be 1 (greyscale) or 3 (colour), got {channels}")
    report = progress or (lambda _text, _fraction: None)
    items = layout.train + layout.test
    out = np.empty((len(items), size, size, channels), dtype=np.uint8)
    good = np.zeros(len(items), dtype=bool)
    skipped: list[str] = []
    step = max(1, len(items) // 50)
    for row, (file, _) in enumerate(items):
        image = _decode_one(file.data, size, channels)
        if image is None:
            skipped.append(file.path)
        else:
            out[row], good[row] = image, True
        if row % step == 0 or row == len(items) - 1:
            report(f"Decoding {row + 1:,} of {len(items):,} images", (row + 1) / len(items))
    allowed = int(MAX_BAD_FRACTION * len(items))
    if len(skipped) > allowed:
        named = ", ".join(skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        raise UploadError(f"{len(skipped):,} of {len(items):,} images cannot be decoded "
                          f"(at most {allowed:,}, 1%, may be skipped): {named}")
    images = torch.from_numpy(np.ascontiguousarray(out.transpose(0, 3, 1, 2)))
    labels = torch.tensor([label for _, label in items], dtype=torch.int64)
    n_train = len(layout.train)
    keep_train, keep_test = torch.from_numpy(good[:n_train]), torch.from_numpy(good[n_train:])
    return DecodedUpload(images[:n_train][keep_train].clone(), labels[:n_train][keep_train],
                         images[n_train:][keep_test].clone(), labels[n_train:][keep_test],
                         list(layout.classes), skipped)


def _decode_one(data: bytes, size: int, channels: int) -> np.ndarray | None:
    """[size, size, channels] RGB or grey, squashed to the square; None if undecodable."""
    import cv2  # here: only uploads and image folders need OpenCV

    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
    except cv2.error:
        return None
    if image is None or image.size == 0:
        return None
    if image.shape[:2] != (size, size):
        shrinking = image.shape[0] > size or image.shape[1] > size
        image = cv2.resize(image, (size, size),
                           interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if channels == 1:
        return image[:, :, None]
    return image[:, :, ::-1]  # OpenCV decodes to BGR
