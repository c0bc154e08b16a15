"""BENCHMARKS.md is written by more than one command (the training benchmark, the UI
benchmark) and holds hand-written analysis too: each command replaces only its own section,
between two marker comments, and leaves the rest of the file as it is."""
from __future__ import annotations

from pathlib import Path


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- begin {name}: generated, do not edit -->", f"<!-- end {name} -->"


def write_section(path: str | Path, name: str, text: str) -> None:
    """Put `text` between the markers of section `name` in `path`: in place when the
    section is there, else at the end (the file is created when missing)."""
    path = Path(path)
    begin, end = _markers(name)
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    try:
        current = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = ""
    start, stop = current.find(begin), current.find(end)
    if start >= 0 and stop > start:
        updated = current[:start] + block + current[stop + len(end):].lstrip("\n")
    else:
        updated = current.rstrip("\n") + ("\n\n" if current.strip() else "") + block
    path.write_text(updated, encoding="utf-8")
