"""Datasets loaded once per process and shared read-only by every run and page.

A classroom server holds one copy of each dataset however many sessions train on it;
the cache is keyed by (name, data folder) so a changed PLAYGROUND_DATA loads afresh.

A page may start a load in the background before anyone asks for the data (`preload`):
the Train page does, for the dataset its settings show, so that the first press of Train
finds it loaded. Whoever asks for a dataset while it loads waits for that same load (and
hears its progress) instead of starting a second one.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from typing import Iterator

from playground.data import datasets as D
from playground.data import uploads as U

MAX_DATASETS = 4  # the largest (CIFAR-10) is about 700 MB as float32
WAIT_POLL_SECONDS = 0.1  # how often a waiter passes on the progress of another's load

Key = tuple[str, str]

_loaded: OrderedDict[Key, D.Dataset] = OrderedDict()
# One load at a time: two datasets decoding together would double the peak memory.
_loading = threading.Lock()
# Guards _loaded's bookkeeping and _pending (held for moments, never through a load).
_state = threading.Lock()
# Where a load in this thread reports its progress (`reporting_to`): a keyword on
# `dataset` would not reach the loads that tests and scripts put in its place.
_reports = threading.local()


class _Load:
    """One load in flight: its latest progress, then its dataset or its error."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.progress: tuple[str, float] | None = None
        self.result: D.Dataset | None = None
        self.error: BaseException | None = None

    def report(self, text: str, fraction: float) -> None:
        self.progress = (text, fraction)

    def wait(self, report: D.Progress | None) -> D.Dataset:
        """The load's dataset once it is done, passing its progress on meanwhile."""
        seen = None
        while not self.done.wait(WAIT_POLL_SECONDS if report else None):
            if report is not None and self.progress is not None and self.progress != seen:
                seen = self.progress
                report(*seen)
        if self.error is not None:
            raise self.error
        return self.result


_pending: dict[Key, _Load] = {}
_preloads: dict[Key, threading.Thread] = {}


_uploads: U.UploadStore | None = None


def uploads() -> U.UploadStore:
    """The process's uploaded datasets (bounds from the environment, read on first use)."""
    global _uploads
    with _state:
        if _uploads is None:
            _uploads = U.store_from_env()
        return _uploads


def _key(name: str) -> Key:
    # An upload is named by its content hash, never by a folder.
    return (name, "") if U.is_upload(name) else (name, str(D.default_data_dir()))


def dataset(name: str) -> D.Dataset:
    """The dataset `name` from the configured data folder, loaded on first use (or
    waited for, when another thread is loading it now); an uploaded one
    (`upload:NAME@DIGEST`) from the process's uploads."""
    if U.is_upload(name):
        return _uploaded(name)
    key = _key(name)
    report = getattr(_reports, "progress", None)
    with _state:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
        load = _pending.get(key)
        ours = load is None
        if ours:
            load = _pending[key] = _Load()
    if not ours:
        return load.wait(report)
    return _load(key, load, report)


def _load(key: Key, load: _Load, report: D.Progress | None) -> D.Dataset:
    """Load `key` for everyone waiting on `load`."""

    def progress(text: str, fraction: float) -> None:
        load.report(text, fraction)
        if report is not None:
            report(text, fraction)

    try:
        with _loading:
            loaded = D.load_dataset(*key, progress=progress)
        with _state:
            _loaded[key] = loaded
            while len(_loaded) > MAX_DATASETS:
                _loaded.popitem(last=False)
        load.result = loaded
        return loaded
    except BaseException as error:
        load.error = error
        raise
    finally:
        with _state:
            _pending.pop(key, None)
        load.done.set()


def preload(name: str) -> bool:
    """Start loading `name` in a background thread, unless it is loaded or loading already,
    or loading it would push another dataset out of the cache (sessions may be using it).
    Never blocks; True when it started a load. A load that fails here says nothing: the
    same error comes again, to the page, when the data is asked for."""
    key = _key(name)
    with _state:
        running = _preloads.get(key)
        if (key in _loaded or key in _pending or len(_loaded) >= MAX_DATASETS
                or (running is not None and running.is_alive())):
            return False
        thread = threading.Thread(target=_load_quietly, args=(name,), daemon=True,
                                  name=f"preload-{name}")
        _preloads[key] = thread
    thread.start()
    return True


def _load_quietly(name: str) -> None:
    try:
        dataset(name)  # looked up at call time: tests and scripts may put their own here
    except Exception:
        pass  # reported when the page asks for it (see `preload`)


def loading(name: str) -> bool:
    """Whether `name` is being loaded now (by a preload or by a page)."""
    with _state:
        return _key(name) in _pending


@contextmanager
def reporting_to(progress: D.Progress) -> Iterator[None]:
    """Loads by `dataset` in this thread report (text, fraction) to `progress` meanwhile
    (also a load that another thread started and this one waits for)."""
    _reports.progress = progress
    try:
        yield
    finally:
        _reports.progress = None


def loaded(name: str) -> D.Dataset | None:
    """The dataset `name` if it is loaded already, else None (never loads it)."""
    return _loaded.get(_key(name))


def _uploaded(name: str) -> D.Dataset:
    """An uploaded dataset as uint8 tensors from the uploads, normalised once here."""
    key = _key(name)
    store = uploads()
    with _state:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
    upload = store.get(name)
    if upload is None:
        raise D.DataError(f"dataset {U.spec_name(name)} is no longer on this server: upload "
                          "the same images again on the Train page")
    normalised = D.from_uint8(name, upload.train_x, upload.train_y, upload.test_x,
                              upload.test_y, upload.classes, f"your upload {U.spec_name(name)}")
    with _state:
        _loaded[key] = normalised
        while len(_loaded) > MAX_DATASETS:
            _loaded.popitem(last=False)
    return normalised


def forget(name: str) -> None:
    """Drop the normalised copy of `name` (an upload evicted from memory); runs that hold
    it keep theirs."""
    with _state:
        _loaded.pop((name, ""), None)
        _loaded.pop((name, str(D.default_data_dir())), None)


def add_upload(owner: str, key: str, upload) -> list[str]:
    """Hold a decoded upload for `owner` under `key`; the keys evicted to stay within the
    memory bounds (their normalised copies are dropped too)."""
    evicted = uploads().put(owner, key, upload)
    for name in evicted:
        forget(name)
    return evicted


def wait_for_preloads(timeout: float) -> bool:
    """Wait until no preload runs (tests and scripts: a clean start); True if none is left."""
    deadline = time.monotonic() + timeout
    for thread in list(_preloads.values()):
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in _preloads.values())
