"""Datasets loaded once per process and shared read-only by every run and page.

A classroom server holds one copy of each dataset however many sessions train on it;
the cache is keyed by (name, data folder) so a changed PLAYGROUND_DATA loads afresh.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Iterator

from playground.data import datasets as D
from playground.data import uploads as U

MAX_DATASETS = 4  # the largest (CIFAR-10) is about 700 MB as float32

_loaded: OrderedDict[tuple[str, str], D.Dataset] = OrderedDict()
# One load at a time: two sessions asking for MNIST together must not read it twice.
_loading = threading.Lock()
# Where a load in this thread reports its progress (`reporting_to`): a keyword on
# `dataset` would not reach the loads that tests and scripts put in its place.
_reports = threading.local()


_uploads: U.UploadStore | None = None


def uploads() -> U.UploadStore:
    """The process's uploaded datasets (bounds from the environment, read on first use)."""
    global _uploads
    with _loading:
        if _uploads is None:
            _uploads = U.store_from_env()
        return _uploads


def dataset(name: str) -> D.Dataset:
    """The dataset `name` from the configured data folder, loaded on first use; an
    uploaded one (`upload:NAME@DIGEST`) from the process's uploads."""
    if U.is_upload(name):
        return _uploaded(name)
    key = (name, str(D.default_data_dir()))
    with _loading:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
        loaded = D.load_dataset(*key, progress=getattr(_reports, "progress", None))
        _loaded[key] = loaded
        while len(_loaded) > MAX_DATASETS:
            _loaded.popitem(last=False)
        return loaded


@contextmanager
def reporting_to(progress: D.Progress) -> Iterator[None]:
    """Loads by `dataset` in this thread report (text, fraction) to `progress` meanwhile."""
    _reports.progress = progress
    try:
        yield
    finally:
        _reports.progress = None


def loaded(name: str) -> D.Dataset | None:
    """The dataset `name` if it is loaded already, else None (never loads it)."""
    if U.is_upload(name):
        return _loaded.get((name, ""))
    return _loaded.get((name, str(D.default_data_dir())))


def _uploaded(name: str) -> D.Dataset:
    """An uploaded dataset as uint8 tensors from the uploads, normalised once here."""
    key = (name, "")
    store = uploads()
    with _loading:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
    upload = store.get(name)
    if upload is None:
        raise D.DataError(f"dataset {U.spec_name(name)} is no longer on this server: upload "
                          "the same images again on the Train page")
    with _loading:
        loaded = D.from_uint8(name, upload.train_x, upload.train_y, upload.test_x,
                              upload.test_y, upload.classes,
                              f"your upload {U.spec_name(name)}")
        _loaded[key] = loaded
        while len(_loaded) > MAX_DATASETS:
            _loaded.popitem(last=False)
        return loaded


def forget(name: str) -> None:
    """Drop the normalised copy of `name` (an upload evicted from memory); runs that hold
    it keep theirs."""
    with _loading:
        _loaded.pop((name, ""), None)
        _loaded.pop((name, str(D.default_data_dir())), None)


def add_upload(owner: str, key: str, upload) -> list[str]:
    """Hold a decoded upload for `owner` under `key`; the keys evicted to stay within the
    memory bounds (their normalised copies are dropped too)."""
    evicted = uploads().put(owner, key, upload)
    for name in evicted:
        forget(name)
    return evicted
