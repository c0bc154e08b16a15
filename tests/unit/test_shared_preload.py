"""Datasets loaded in the background (shared.preload): the page never blocks, and a request
while the load runs waits for that same load instead of decoding a second time."""
from __future__ import annotations

import threading
import time

import pytest

from playground.data import datasets as D
from playground.data import shared


class SlowLoader:
    """Stands in for datasets.load_dataset: takes `seconds`, reports progress, counts calls."""

    def __init__(self, seconds: float = 0.6, fail: bool = False) -> None:
        self.seconds, self.fail = seconds, fail
        self.calls: list[str] = []
        self.started = threading.Event()

    def __call__(self, name, data_dir, *, progress=None):
        self.calls.append(name)
        self.started.set()
        for n in range(6):
            progress(f"Decoding {name}", n / 6)
            time.sleep(self.seconds / 6)
        if self.fail:
            raise D.DataError(f"dataset {name}: no files")
        return object()  # a dataset is only handed around here


@pytest.fixture
def loader(monkeypatch):
    monkeypatch.setattr(shared, "_loaded", type(shared._loaded)())
    monkeypatch.setattr(shared, "_pending", {})
    monkeypatch.setattr(shared, "_preloads", {})
    slow = SlowLoader()
    monkeypatch.setattr(D, "load_dataset", slow)
    yield slow
    assert shared.wait_for_preloads(10)


def test_preload_returns_at_once_and_loads_in_the_background(loader):
    started = time.perf_counter()
    assert shared.preload("cifar10")
    assert time.perf_counter() - started < 0.1  # the page never waits for it
    assert loader.started.wait(5) and shared.loading("cifar10")
    assert shared.wait_for_preloads(10)
    assert shared.loaded("cifar10") is not None and loader.calls == ["cifar10"]
    assert not shared.preload("cifar10")  # loaded: nothing to do


def test_a_request_during_the_preload_waits_for_the_same_load(loader):
    shared.preload("cifar10")
    assert loader.started.wait(5)
    heard = []
    with shared.reporting_to(lambda text, fraction: heard.append((text, fraction))):
        data = shared.dataset("cifar10")
    assert loader.calls == ["cifar10"]  # decoded once
    assert data is shared.loaded("cifar10")
    assert heard and heard[-1][0] == "Decoding cifar10"  # the waiter saw its progress
    assert [f for _, f in heard] == sorted(f for _, f in heard)


def test_many_waiters_one_load(loader):
    results = []
    threads = [threading.Thread(target=lambda: results.append(shared.dataset("mnist")))
               for _ in range(4)]
    shared.preload("mnist")
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert loader.calls == ["mnist"] and len(results) == 4
    assert all(result is results[0] for result in results)


def test_a_second_preload_while_one_runs_starts_nothing(loader):
    assert shared.preload("mnist")
    assert not shared.preload("mnist")
    assert shared.wait_for_preloads(10) and loader.calls == ["mnist"]


def test_a_failed_preload_is_quiet_and_the_request_hears_the_error(loader):
    loader.fail = True
    shared.preload("cifar10")
    assert loader.started.wait(5)
    with pytest.raises(D.DataError, match="no files"):
        shared.dataset("cifar10")  # waits for the failing load and gets its error
    assert shared.wait_for_preloads(10) and shared.loaded("cifar10") is None
    with pytest.raises(D.DataError):
        shared.dataset("cifar10")  # asked again: loads again (the files may be there now)
    assert loader.calls == ["cifar10", "cifar10"]


def test_preload_never_pushes_a_dataset_out_of_a_full_cache(loader, monkeypatch):
    for n in range(shared.MAX_DATASETS):
        shared._loaded[(f"folder:/d{n}", "x")] = object()
    assert not shared.preload("mnist")
    assert loader.calls == [] and len(shared._loaded) == shared.MAX_DATASETS


def test_preload_uses_the_dataset_function_in_place(loader, monkeypatch):
    """Tests and scripts replace shared.dataset; a preload must use their replacement."""
    asked = []
    monkeypatch.setattr(shared, "dataset", lambda name: asked.append(name))
    shared.preload("mnist")
    assert shared.wait_for_preloads(10)
    assert asked == ["mnist"] and loader.calls == []
