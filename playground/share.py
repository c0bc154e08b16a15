"""A lesson (a spec with its training section) as one URL parameter or one JSON file.

The URL form is the spec's JSON, compressed with zlib and written in URL-safe base64
without padding, in the single query parameter `lesson`. Reading either form validates
exactly like a spec file (`spec.parse_spec`, then `model.analyze` for shapes and limits),
with size caps before anything is decompressed or parsed. Pure Python, no Streamlit.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from urllib.parse import urlencode, urlsplit, urlunsplit

from playground.model import build as M
from playground import spec as S

PARAM = "lesson"
MAX_PARAM_CHARS = 16_000          # browsers and proxies are happy far above a 32-layer spec
MAX_JSON_BYTES = 10 * 2**20        # one lesson file
# What a link may unpack to. The largest spec within the spec's limits (every text at its
# length limit in 4-byte characters, 32 layers, every setting set) is 121,106 bytes as
# `encode` writes it (tests/unit/test_share.py measures it); a link never needs more, and
# unpacking stops here instead of at a lesson file's 10 MB.
MAX_LINK_JSON_BYTES = 128 * 2**10
FILE_SUFFIX = ".lesson.json"


def encode(model_spec: S.ModelSpec) -> str:
    """The compact URL form of a lesson."""
    text = json.dumps(model_spec.to_dict(), separators=(",", ":"), ensure_ascii=False)
    packed = zlib.compress(text.encode("utf-8"), 9)
    return base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")


def decode(value: str, check_shapes: bool = True) -> S.ModelSpec:
    """The lesson in a link's `lesson` value; SpecError with one readable line if not."""
    if not isinstance(value, str) or not value:
        raise S.SpecError("the link has no lesson in it", where="link")
    if len(value) > MAX_PARAM_CHARS:
        raise S.SpecError(f"the lesson in the link is {len(value):,} characters long, over "
                          f"the limit of {MAX_PARAM_CHARS:,}", where="link")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", value):
        raise S.SpecError("the lesson in the link is damaged (characters that a lesson "
                          "never contains; was it cut or changed when copied?)", where="link")
    try:
        packed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        unpacker = zlib.decompressobj()
        raw = unpacker.decompress(packed, MAX_LINK_JSON_BYTES + 1)
        if len(raw) > MAX_LINK_JSON_BYTES or unpacker.unconsumed_tail:
            raise S.SpecError(f"the lesson in the link unpacks to over "
                              f"{MAX_LINK_JSON_BYTES // 2**10} KB, the limit for a link",
                              where="link")
        if not unpacker.eof:
            raise zlib.error("incomplete")
        text = raw.decode("utf-8")
    except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError) as error:
        if isinstance(error, S.SpecError):
            raise
        raise S.SpecError("the lesson in the link is damaged (was it cut short when "
                          "copied?)", where="link") from None
    return _validated(S.spec_from_json(text), check_shapes)


def share_url(base_url: str | None, model_spec: S.ModelSpec, page: str = "build",
              extra: dict[str, str] | None = None) -> str:
    """A link to `page` of the app at `base_url` that opens this lesson.

    `base_url` is any URL of the running app (e.g. the browser's current one); its path
    is replaced by `/page` and its query by the lesson and the `extra` parameters (how the
    page is shown, say: they are not part of the lesson). Without one, a relative link.
    """
    query = urlencode({PARAM: encode(model_spec), **(extra or {})})
    if not base_url:
        return f"/{page}?{query}"
    parts = urlsplit(base_url)
    path = parts.path
    known = ("build", "train", "inspect", "learn")
    segments = [s for s in path.split("/") if s]
    if segments and segments[-1] in known:  # an app served under a prefix keeps it
        segments = segments[:-1]
    path = "/" + "/".join([*segments, page])
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def to_file_bytes(model_spec: S.ModelSpec) -> bytes:
    """The lesson file: the spec JSON, training section included."""
    return (model_spec.to_json() + "\n").encode("utf-8")


def from_file_bytes(data: bytes, check_shapes: bool = True) -> S.ModelSpec:
    """A lesson or spec file's bytes, validated; SpecError with one readable line if not."""
    if len(data) > MAX_JSON_BYTES:
        raise S.SpecError(f"the file is {len(data) / 2**20:.1f} MB, over the limit of "
                          f"{MAX_JSON_BYTES // 2**20} MB for a lesson", where="file")
    if not data.strip():
        raise S.SpecError("the file is empty", where="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise S.SpecError("the file is not text (a lesson is a UTF-8 JSON file)",
                          where="file") from None
    return _validated(S.spec_from_json(text), check_shapes)


def file_name(model_spec: S.ModelSpec, suffix: str = FILE_SUFFIX) -> str:
    """A safe file name from the network's name, e.g. `lenet-5.lesson.json`."""
    stem = re.sub(r"[^a-z0-9]+", "-", model_spec.name.lower()).strip("-")[:60] or "network"
    return stem + suffix


def _validated(model_spec: S.ModelSpec, check_shapes: bool) -> S.ModelSpec:
    if check_shapes:
        analysis = M.analyze(model_spec)  # kernel larger than its input, too many params...
        M.check_lesson_batch(model_spec, analysis)
    return model_spec
