"""What uploaded files decode to, kept once per content for the whole process.

A Streamlit page runs its script again on every interaction and gets the upload's bytes
again each time; decoding them on every rerun would repeat the CPU and memory cost, and
a class opening the same file would pay it once per student. The cache is keyed by the
SHA-256 of the bytes (plus what the caller decodes them for), holds at most `max_bytes`
of results and `max_entries` entries (least recently used go first), and runs at most
`max_decoding` decodes at a time, so a class uploading at once cannot stack up the peak
memory of many decodes. The same bytes asked for while they are being decoded wait for
that decode instead of starting another. Plain Python and numpy: pages and datasets
both use it.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np

Decode = Callable[[bytes], np.ndarray]


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    entries: int
    bytes: int


@dataclass(frozen=True)
class _Outcome:
    """A decoded array, or the refusal the decoder gave (a damaged file fails once)."""
    image: np.ndarray | None
    error: ValueError | None

    @property
    def nbytes(self) -> int:
        return 0 if self.image is None else self.image.nbytes


def content_key(data: bytes) -> str:
    """The name of an upload's content: the hex SHA-256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


class UploadCache:
    """A bounded, thread-safe LRU of decoded uploads; see the module docstring."""

    def __init__(self, max_bytes: int, max_entries: int = 64, max_decoding: int = 2):
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, Hashable], _Outcome] = OrderedDict()
        self._in_progress: dict[tuple[str, Hashable], threading.Event] = {}
        self._lock = threading.Lock()
        self._decode_slots = threading.BoundedSemaphore(max_decoding)
        self._hits = 0
        self._misses = 0

    def get_or_decode(self, data: bytes, purpose: Hashable, decode: Decode) -> np.ndarray:
        """`decode(data)`, or the array it gave before for the same bytes and purpose.

        The array is shared with other sessions, so it is read-only. A ValueError from
        `decode` (the file cannot be used) is remembered and raised again like a result.
        """
        key = (content_key(data), purpose)
        while True:
            with self._lock:
                outcome = self._entries.get(key)
                if outcome is not None:
                    self._entries.move_to_end(key)
                    self._hits += 1
                    return _unpack(outcome)
                waiting = self._in_progress.get(key)
                if waiting is None:
                    self._in_progress[key] = threading.Event()
                    self._misses += 1
                    break
            waiting.wait()  # then look again: the other decode's outcome is stored
        try:
            outcome = self._decode(data, decode)
            self._store(key, outcome)
        finally:
            with self._lock:
                self._in_progress.pop(key).set()
        return _unpack(outcome)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._entries),
                              sum(outcome.nbytes for outcome in self._entries.values()))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._hits = self._misses = 0

    def _decode(self, data: bytes, decode: Decode) -> _Outcome:
        with self._decode_slots:
            try:
                image = decode(data)
            except ValueError as error:
                return _Outcome(None, error)
        image.setflags(write=False)
        return _Outcome(image, None)

    def _store(self, key: tuple[str, Hashable], outcome: _Outcome) -> None:
        if outcome.nbytes > self.max_bytes:
            return  # used once, never kept: it would push everything else out
        with self._lock:
            self._entries[key] = outcome
            total = sum(entry.nbytes for entry in self._entries.values())
            while total > self.max_bytes or len(self._entries) > self.max_entries:
                _, evicted = self._entries.popitem(last=False)
                total -= evicted.nbytes


def _unpack(outcome: _Outcome) -> np.ndarray:
    if outcome.error is not None:
        # A fresh traceback each time: raising the stored instance would grow its own.
        raise outcome.error.with_traceback(None)
    return outcome.image
