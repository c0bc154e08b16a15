"""The process-wide cache of decoded uploads: once per content, bounded, shared safely."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from playground.data.upload_cache import UploadCache, content_key


class CountingDecoder:
    """Decodes bytes to an array of `size` bytes, counting calls and overlapping calls."""

    def __init__(self, size: int = 100, seconds: float = 0.0):
        self.size, self.seconds = size, seconds
        self.calls = 0
        self.running = self.most_running = 0
        self._lock = threading.Lock()

    def __call__(self, data: bytes) -> np.ndarray:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        return np.full(self.size, data[0], dtype=np.uint8)


def test_the_same_bytes_are_decoded_once_per_purpose():
    cache, decode = UploadCache(max_bytes=10_000), CountingDecoder()
    first = cache.get_or_decode(b"abc", "probe", decode)
    again = cache.get_or_decode(bytes(b"abc"), "probe", decode)
    assert again is first and decode.calls == 1
    cache.get_or_decode(b"abc", "dataset", decode)
    assert decode.calls == 2
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries, stats.bytes) == (1, 2, 2, 200)
    assert content_key(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_shared_arrays_are_read_only():
    image = UploadCache(max_bytes=10_000).get_or_decode(b"x", "probe", CountingDecoder())
    with pytest.raises(ValueError):
        image[0] = 1


def test_least_recently_used_go_first_by_bytes_and_by_count():
    cache, decode = UploadCache(max_bytes=300, max_entries=10), CountingDecoder(size=100)
    for data in (b"a", b"b", b"c"):
        cache.get_or_decode(data, "probe", decode)
    cache.get_or_decode(b"a", "probe", decode)   # "a" is now the most recent
    cache.get_or_decode(b"d", "probe", decode)   # over 300 bytes: "b" goes
    assert decode.calls == 4
    cache.get_or_decode(b"a", "probe", decode)
    assert decode.calls == 4
    cache.get_or_decode(b"b", "probe", decode)
    assert decode.calls == 5 and cache.stats().bytes <= 300
    few = UploadCache(max_bytes=10_000, max_entries=2)
    for data in (b"a", b"b", b"c"):
        few.get_or_decode(data, "probe", decode)
    assert few.stats().entries == 2


def test_a_result_larger_than_the_cache_is_returned_but_not_kept():
    cache, decode = UploadCache(max_bytes=50), CountingDecoder(size=100)
    assert cache.get_or_decode(b"a", "probe", decode).nbytes == 100
    assert cache.stats().entries == 0


def test_a_refusal_is_remembered_like_a_result():
    cache, calls = UploadCache(max_bytes=1_000), []

    def refuse(data: bytes) -> np.ndarray:
        calls.append(data)
        raise ValueError("the image could not be decoded")

    for _ in range(3):
        with pytest.raises(ValueError, match="could not be decoded"):
            cache.get_or_decode(b"bad", "probe", refuse)
    assert len(calls) == 1


def test_sessions_asking_at_once_share_one_decode_and_decodes_are_limited():
    cache = UploadCache(max_bytes=10_000, max_decoding=2)
    decode = CountingDecoder(seconds=0.05)
    same = [threading.Thread(target=cache.get_or_decode, args=(b"s", "probe", decode))
            for _ in range(6)]
    different = [threading.Thread(target=cache.get_or_decode, args=(bytes([i]), "p", decode))
                 for i in range(6)]
    for thread in same + different:
        thread.start()
    for thread in same + different:
        thread.join()
    assert decode.calls == 1 + 6
    assert decode.most_running == 2
