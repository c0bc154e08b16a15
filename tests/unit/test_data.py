"""Tests for playground.data.datasets: the real datasets in $PLAYGROUND_DATA, the embedded fallback,
image folders and their decode cache. Tiny folders are written to tmp_path with OpenCV."""

from __future__ import annotations

import gzip
import os
import socket
import struct
import urllib.error
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torchvision

from playground.data import datasets as D


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch) -> Path:
    """Every test decodes into its own cache folder, never into the home directory."""
    cache = tmp_path_factory.mktemp("decoded")
    monkeypatch.setenv("PLAYGROUND_CACHE", str(cache))
    return cache


@pytest.fixture
def shared_data() -> Path:
    if not os.environ.get("PLAYGROUND_DATA"):
        pytest.skip("PLAYGROUND_DATA is not set (point it at the shared offline datasets)")
    return Path(os.environ["PLAYGROUND_DATA"])


def _write_image(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def _make_folder(root: Path, classes=("cat", "dog", "owl"), n_train=4, n_test=2,
                 size=(8, 8)) -> Path:
    """Class k is a flat colour: pure red, green or blue in RGB (written as BGR)."""
    for split, count in (("train", n_train), ("test", n_test)):
        for index, name in enumerate(classes):
            for i in range(count):
                image = np.zeros((*size, 3), np.uint8)
                image[:, :, 2 - index % 3] = 200 + i  # BGR channel 2 is red
                _write_image(root / split / name / f"{i:03d}.png", image)
    return root


# --- the real datasets ------------------------------------------------------------------

def test_mnist_shapes_classes_and_normalisation(shared_data):
    ds = D.load_dataset("mnist", shared_data)
    assert ds.name == "mnist" and not ds.is_subset
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.train_x.dtype == torch.float32
    assert ds.test_x.shape == (10000, 1, 28, 28)
    assert ds.train_y.shape == (60000,) and ds.train_y.dtype == torch.int64
    assert ds.test_y.shape == (10000,)
    assert ds.classes == [str(d) for d in range(10)]
    assert ds.input_shape == (1, 28, 28) and ds.num_classes == 10
    assert ds.mean[0] == pytest.approx(0.1307, abs=1e-4)
    assert ds.std[0] == pytest.approx(0.3081, abs=1e-4)
    assert float(ds.train_x.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(ds.train_x.std()) == pytest.approx(1.0, abs=1e-3)
    assert sorted(ds.train_y.unique().tolist()) == list(range(10))
    assert "MNIST" in ds.source and str(shared_data.absolute()) in ds.source
    # pixels were x/255 normalised: background 0 and full ink 255 map to these values
    assert float(ds.train_x.min()) == pytest.approx((0 - 0.1307) / 0.3081, abs=1e-3)
    assert float(ds.train_x.max()) == pytest.approx((1 - 0.1307) / 0.3081, abs=1e-3)


def test_fashion_mnist_loads(shared_data):
    ds = D.load_dataset("fashion-mnist", shared_data)
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert ds.classes[0] == "T-shirt/top" and ds.num_classes == 10
    assert ds.mean[0] == pytest.approx(0.2860, abs=1e-4)
    assert torch.bincount(ds.train_y).tolist() == [6000] * 10


def test_limit_train_keeps_a_fixed_subset(shared_data):
    first = D.load_dataset("mnist", shared_data, limit_train=500)
    again = D.load_dataset("mnist", shared_data, limit_train=500)
    assert first.train_x.shape == (500, 1, 28, 28) and len(first.test_y) == 10000
    assert torch.equal(first.train_y, again.train_y) and torch.equal(first.train_x, again.train_x)
    assert len(first.train_y.unique()) == 10  # a shuffled subset, not the first 500 in order
    with pytest.raises(ValueError, match="limit_train"):
        D.load_dataset("mnist", shared_data, limit_train=0)


@pytest.fixture(scope="session")
def cifar10_loads(tmp_path_factory):
    """Decode the CIFAR-10 image folder once (about 15 s), then load it again from the
    cache with the decoder switched off; both datasets are shared by the cifar10 tests."""
    if not os.environ.get("PLAYGROUND_DATA"):
        pytest.skip("PLAYGROUND_DATA is not set")
    root = Path(os.environ["PLAYGROUND_DATA"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLAYGROUND_CACHE", str(tmp_path_factory.mktemp("cifar-cache")))
        first = D.load_dataset("cifar10", root, download=False)
        patch.setattr(D, "_decode_image", _decoder_must_not_run)
        second = D.load_dataset("cifar10", root, download=False)
    return first, second


def _decoder_must_not_run(path):
    raise AssertionError(f"decoded {path} although the cache should have been used")


def test_cifar10_image_folder(cifar10_loads):
    ds, _ = cifar10_loads
    assert ds.name == "cifar10" and not ds.is_subset
    assert ds.train_x.shape == (50000, 3, 32, 32) and ds.test_x.shape == (10000, 3, 32, 32)
    assert ds.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                          "horse", "ship", "truck"]
    assert torch.bincount(ds.train_y).tolist() == [5000] * 10
    assert torch.bincount(ds.test_y).tolist() == [1000] * 10
    # RGB order: CIFAR-10's known channel means are about 0.491, 0.482, 0.447
    assert ds.mean == pytest.approx((0.491, 0.482, 0.447), abs=0.005)
    assert "image folder" in ds.source


def test_cifar10_second_load_comes_from_the_cache(cifar10_loads):
    first, second = cifar10_loads
    assert torch.equal(first.train_x, second.train_x) and torch.equal(first.test_y, second.test_y)
    assert first.classes == second.classes and first.mean == second.mean


# --- offline behaviour ------------------------------------------------------------------

def test_mnist_falls_back_to_the_embedded_subset(tmp_path):
    ds = D.load_dataset("mnist", tmp_path, download=False)
    assert ds.name == "mnist-subset" and ds.is_subset
    assert ds.train_x.shape == (4000, 1, 28, 28) and ds.test_x.shape == (1000, 1, 28, 28)
    assert torch.bincount(ds.train_y).tolist() == [400] * 10
    assert torch.bincount(ds.test_y).tolist() == [100] * 10
    assert ds.classes == [str(d) for d in range(10)]
    assert "subset" in ds.source and "not the full" in ds.source
    assert float(ds.train_x.mean()) == pytest.approx(0.0, abs=1e-4)
    assert ds.mean[0] == pytest.approx(0.13, abs=0.01)  # real MNIST digits
    assert len(ds.train_y[:50].unique()) > 5  # shuffled, although the file is sorted by label
    again = D.load_dataset("mnist", tmp_path, download=False)
    assert torch.equal(ds.train_y, again.train_y) and torch.equal(ds.test_x, again.test_x)


def test_no_data_and_no_fallback_is_one_readable_line(tmp_path):
    with pytest.raises(D.DataError) as caught:
        D.load_dataset("mnist", tmp_path, download=False, allow_fallback=False)
    message = str(caught.value)
    assert "\n" not in message and "mnist" in message and str(tmp_path) in message
    assert "download" in message


def test_failed_download_is_caught_and_restores_the_timeout(tmp_path, monkeypatch):
    def offline(self):
        raise urllib.error.URLError("Name or service not known")

    for cls in (torchvision.datasets.MNIST, torchvision.datasets.CIFAR10):
        monkeypatch.setattr(cls, "download", offline)
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    socket.setdefaulttimeout(None)
    for name in ("mnist", "fashion-mnist", "cifar10"):
        with pytest.raises(D.DataError, match=r"downloading failed \(no network\?\)") as caught:
            D.load_dataset(name, tmp_path, allow_fallback=False)
        assert name in str(caught.value) and str(tmp_path) in str(caught.value)
        assert "\n" not in str(caught.value)
    assert socket.getdefaulttimeout() is None
    assert D.load_dataset("mnist", tmp_path).is_subset  # with the fallback allowed


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_fashion_mnist_from_the_debian_package_folder(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        _write_idx(debian / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(debian / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST", debian)
    ds = D.load_dataset("fashion-mnist", tmp_path / "empty", download=False)
    assert ds.train_x.shape == (30, 1, 28, 28) and ds.test_x.shape == (10, 1, 28, 28)
    assert ds.test_y.tolist() == list(range(10)) and "Debian" in ds.source
    (debian / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"not an idx file"))
    with pytest.raises(D.DataError, match="dataset fashion-mnist: IDX file .* not in the IDX format"):
        D.load_dataset("fashion-mnist", tmp_path / "empty", download=False)


# --- image folders and the cache --------------------------------------------------------

def test_folder_dataset_loads_and_is_cached(tmp_path, private_cache, monkeypatch):
    root = _make_folder(tmp_path / "shapes")
    steps = []
    ds = D.load_dataset(f"folder:{root}", progress=lambda text, f: steps.append(f))
    assert ds.name == f"folder:{root}" and ds.classes == ["cat", "dog", "owl"]
    assert ds.train_x.shape == (12, 3, 8, 8) and ds.test_x.shape == (6, 3, 8, 8)
    assert ds.train_y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert ds.test_y.tolist() == [0, 0, 1, 1, 2, 2]
    # RGB, not OpenCV's BGR: the "cat" images are red, so channel 0 is brightest there
    assert ds.train_x[0].mean(dim=(1, 2)).argmax() == 0
    assert ds.train_x[4].mean(dim=(1, 2)).argmax() == 1
    assert steps and steps == sorted(steps) and steps[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in steps)
    assert len(list(private_cache.glob("*.pt"))) == 1

    monkeypatch.setattr(D, "_decode_image", _decoder_must_not_run)
    cached = D.load_dataset(f"folder:{root}")
    assert torch.equal(cached.train_x, ds.train_x) and cached.classes == ds.classes

    # a new image changes the folder, so the stale cache is replaced, not read
    monkeypatch.undo()
    monkeypatch.setenv("PLAYGROUND_CACHE", str(private_cache))
    _write_image(root / "test" / "owl" / "new.png", np.zeros((8, 8, 3), np.uint8))
    changed = D.load_dataset(f"folder:{root}")
    assert changed.test_x.shape == (7, 3, 8, 8)
    assert len(list(private_cache.glob("*.pt"))) == 1


def test_folder_grayscale_and_sizes(tmp_path):
    gray = tmp_path / "gray"
    for split in ("train", "test"):
        for name in ("a", "b"):
            _write_image(gray / split / name / "0.png", np.full((10, 12), 50, np.uint8))
            _write_image(gray / split / name / "1.jpg", np.full((10, 12), 90, np.uint8))
    _write_image(gray / "train" / "a" / "2.png", np.full((20, 20), 90, np.uint8))
    ds = D.load_dataset(f"folder:{gray}")
    assert ds.input_shape == (1, 10, 12)  # the majority size; the odd one is resized

    # one colour image makes the whole set RGB; no majority size means 32x32
    mixed = tmp_path / "mixed"
    for i, (shape, split) in enumerate([((5, 5), "train"), ((6, 7, 3), "train"),
                                        ((9, 4), "test"), ((40, 30), "test")]):
        _write_image(mixed / split / "only" / f"{i}.png", np.full(shape, 100, np.uint8))
    ds = D.load_dataset(f"folder:{mixed}")
    assert ds.input_shape == (3, 32, 32) and ds.train_x.shape[0] == 2


@pytest.mark.parametrize("damage, expected", [
    (lambda root: None, "not found"),
    (lambda root: (root / "train").mkdir(parents=True), "no test/ folder"),
    (lambda root: [(root / s).mkdir(parents=True) for s in ("train", "test")],
     "no class folders"),
    (lambda root: [(root / s / c).mkdir(parents=True) for s, c in (("train", "x"), ("test", "y"))],
     "only in train: x; only in test: y"),
])
def test_folder_structure_errors(tmp_path, damage, expected):
    root = tmp_path / "custom"
    damage(root)
    with pytest.raises(D.DataError, match=expected) as caught:
        D.load_dataset(f"folder:{root}")
    assert str(root) in str(caught.value) and "\n" not in str(caught.value)


def test_folder_with_an_undecodable_image_names_the_file(tmp_path):
    root = _make_folder(tmp_path / "broken")
    bad = root / "train" / "dog" / "zz-broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(D.DataError, match="cannot decode image") as caught:
        D.load_dataset(f"folder:{root}")
    assert str(bad) in str(caught.value)


def test_empty_class_folder_is_an_error(tmp_path):
    root = _make_folder(tmp_path / "empty-class")
    (root / "train" / "zebra").mkdir()
    (root / "test" / "zebra").mkdir()
    with pytest.raises(D.DataError, match="zebra has no images"):
        D.load_dataset(f"folder:{root}")


# --- names, defaults and the Dataset object --------------------------------------------

@pytest.mark.parametrize("name", ["imagenet", "MNIST ", "folder:", ""])
def test_unknown_name_is_a_value_error(name):
    with pytest.raises(ValueError, match="choose mnist, fashion-mnist, cifar10 or folder:PATH"):
        D.load_dataset(name)


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("PLAYGROUND_DATA", str(tmp_path))
    assert D.default_data_dir() == tmp_path
    monkeypatch.delenv("PLAYGROUND_DATA")
    assert D.default_data_dir() == Path.home() / ".cache" / "cnn-playground" / "data"
    assert D.DATASET_NAMES == ("mnist", "fashion-mnist", "cifar10")


def test_to_returns_a_moved_copy_and_repr_is_short(tmp_path):
    ds = D.load_dataset(f"folder:{_make_folder(tmp_path / 'f')}")
    moved = ds.to("cpu")
    assert moved is not ds and moved.classes == ds.classes and moved.mean == ds.mean
    assert torch.equal(moved.train_x, ds.train_x) and moved.test_y.device.type == "cpu"
    assert "tensor" not in repr(ds) and len(repr(ds)) < 500
