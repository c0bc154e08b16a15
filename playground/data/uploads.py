"""Uploaded datasets held by this process: decoded once, named by content, bounded.

An uploaded dataset enters the data layer under a name `upload:NAME@DIGEST` (the upload's
file or folder name, and 16 hex digits of the SHA-256 of its content and decode settings),
so that runs, the run store and every backend load it by name like a built-in set. A spec
only ever says `upload:NAME`; the session knows which content that is.

Memory: the uint8 tensors of at most `per_session_bytes` per session (browser) and
`per_server_bytes` in all stay in memory, least recently used evicted first. Every decode
is also written to `$PLAYGROUND_CACHE/uploads/`, so an evicted upload, a second upload of
the same data or a run reopened after a restart reads it back instead of decoding again.
"""
from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from playground.data.upload_archive import DecodedUpload
from playground.environment import env_int

PREFIX = "upload:"
KEY = re.compile(r"^upload:([A-Za-z0-9._-]{1,64})@([0-9a-f]{16})$")
CACHE_VERSION = "1"  # bump when the decoding changes, so old files are not reused
# Reading and decoding an upload holds its files' bytes and the decoded images: at most this
# many at once in the whole process, so a class uploading together cannot stack them up.
BUSY = threading.BoundedSemaphore(2)


def decode_digest(content_digest: str, size: int, channels: int) -> str:
    """The name of one decode of one content: 16 hex digits."""
    text = f"{CACHE_VERSION}\0{content_digest}\0{size}\0{channels}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_key(name: str, digest: str) -> str:
    """The data layer's name of an uploaded dataset (what a run is loaded by)."""
    return f"{PREFIX}{name}@{digest}"


def spec_name(key: str) -> str:
    """`upload:NAME@DIGEST` -> `upload:NAME`, the label a spec carries."""
    found = KEY.match(key)
    return f"{PREFIX}{found.group(1)}" if found else key


def is_upload(name: str) -> bool:
    return name.startswith(PREFIX)


@dataclass
class _Held:
    owner: str
    upload: DecodedUpload


class UploadStore:
    """The decoded uploads in memory (bounded, LRU) over a cache folder on disk."""

    def __init__(self, per_session_bytes: int, per_server_bytes: int,
                 cache_dir: Path | None = None) -> None:
        self.per_session_bytes = per_session_bytes
        self.per_server_bytes = per_server_bytes
        self._cache_dir = cache_dir
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._lock = threading.Lock()

    def check_room(self, nbytes: int) -> None:
        """ValueError when one upload of `nbytes` decoded could never be held: asked before
        decoding, so an upload too large for the bounds is never decoded at all."""
        bound = min(self.per_session_bytes, self.per_server_bytes)
        if nbytes > bound:
            raise ValueError(f"decoded, the images would take {nbytes / 2**20:.1f} MB, over "
                             f"the limit of {bound / 2**20:.1f} MB per session "
                             "(PLAYGROUND_UPLOADS_SESSION_MB); choose a smaller size or "
                             "greyscale")

    def put(self, owner: str, key: str, upload: DecodedUpload) -> list[str]:
        """Hold `upload` for `owner` (and write it to the disk cache); the keys evicted
        from memory to stay within the bounds, oldest first."""
        self.check_room(upload.nbytes)
        self._write(key, upload)
        with self._lock:
            self._held[key] = _Held(owner, upload)
            self._held.move_to_end(key)
            return self._evict(owner)

    def _evict(self, owner: str) -> list[str]:
        """Oldest first: the owner's own uploads over its bound, then anyone's over the
        server's; never the upload just put (the newest)."""
        newest = next(reversed(self._held))
        evicted = []
        for who, bound in ((owner, self.per_session_bytes), (None, self.per_server_bytes)):
            for key in list(self._held):
                if self._held_bytes(who) <= bound:
                    break
                if key != newest and (who is None or self._held[key].owner == who):
                    evicted.append(key)
                    del self._held[key]
        return evicted

    def _held_bytes(self, owner: str | None) -> int:
        return sum(h.upload.nbytes for h in self._held.values()
                   if owner is None or h.owner == owner)

    def get(self, key: str) -> DecodedUpload | None:
        """The upload named `key`: from memory, else from the disk cache; None if neither
        has it (the page then asks for the upload again)."""
        with self._lock:
            held = self._held.get(key)
            if held is not None:
                self._held.move_to_end(key)
                return held.upload
        return self._read(key)

    def held_bytes(self, owner: str | None = None) -> int:
        with self._lock:
            return self._held_bytes(owner)

    def is_held(self, key: str) -> bool:
        with self._lock:
            return key in self._held

    def clear(self) -> None:
        with self._lock:
            self._held.clear()

    # --- the disk cache -----------------------------------------------------------------
    def _path(self, key: str) -> Path | None:
        found = KEY.match(key)
        if found is None:
            return None
        return _cache_root(self._cache_dir) / f"{found.group(2)}.pt"

    def _write(self, key: str, upload: DecodedUpload) -> None:
        """Best effort: the cache only saves time, so a read-only folder must not refuse
        an upload."""
        path = self._path(key)
        if path is None or path.is_file():
            return
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        blob = {"train_x": upload.train_x, "train_y": upload.train_y,
                "test_x": upload.test_x, "test_y": upload.test_y,
                "classes": list(upload.classes), "skipped": list(upload.skipped)}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(blob, temporary)
            os.replace(temporary, path)  # atomic: a reader never sees half a file
        except OSError:
            temporary.unlink(missing_ok=True)

    def _read(self, key: str) -> DecodedUpload | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            blob = torch.load(path, weights_only=True)
            return DecodedUpload(blob["train_x"], blob["train_y"], blob["test_x"],
                                 blob["test_y"], list(blob["classes"]), list(blob["skipped"]))
        except Exception:  # damaged or from another version: as if it were not there
            return None


def _cache_root(configured: Path | None) -> Path:
    if configured is not None:
        return configured
    folder = os.environ.get("PLAYGROUND_CACHE")
    if folder:
        return Path(folder).expanduser() / "uploads"
    return Path.home() / ".cache" / "cnn-playground" / "decoded" / "uploads"


def store_from_env() -> UploadStore:
    """The bounds an administrator sets: PLAYGROUND_UPLOADS_SESSION_MB (default 256) and
    PLAYGROUND_UPLOADS_SERVER_MB (default 2048)."""
    return UploadStore(env_int("PLAYGROUND_UPLOADS_SESSION_MB", 256) * 2**20,
                       env_int("PLAYGROUND_UPLOADS_SERVER_MB", 2048) * 2**20)
