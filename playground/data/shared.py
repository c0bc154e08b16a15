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

MAX_DATASETS = 4  # the largest (CIFAR-10) is about 700 MB as float32

_loaded: OrderedDict[tuple[str, str], D.Dataset] = OrderedDict()
# One load at a time: two sessions asking for MNIST together must not read it twice.
_loading = threading.Lock()
# Where a load in this thread reports its progress (`reporting_to`): a keyword on
# `dataset` would not reach the loads that tests and scripts put in its place.
_reports = threading.local()


def dataset(name: str) -> D.Dataset:
    """The dataset `name` from the configured data folder, loaded on first use."""
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
    return _loaded.get((name, str(D.default_data_dir())))
