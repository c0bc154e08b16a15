"""The datasets this browser session uploaded, by the name a spec uses (`upload:NAME`).

The data layer holds each upload under `upload:NAME@DIGEST` (its content); a session
remembers which content each of its names means, so the pages can offer the name and
hand the executor the right data.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from playground.data import uploads as U
from playground.data.datasets import DataError

SESSION_KEY = "uploaded_datasets"


@dataclass(frozen=True)
class SessionUpload:
    """One decoded upload of this session, as the pages describe it."""

    name: str                          # "upload:NAME", what a spec says
    key: str                           # "upload:NAME@DIGEST", what the data layer loads
    classes: tuple[str, ...]
    input_shape: tuple[int, int, int]  # channels, height, width
    counts: tuple[tuple[str, int, int], ...]  # (class, train images, test images)
    split_note: str
    skipped: tuple[str, ...]           # images that could not be decoded


def all_uploads() -> dict[str, SessionUpload]:
    return st.session_state.setdefault(SESSION_KEY, {})


def remember(upload: SessionUpload) -> None:
    all_uploads()[upload.name] = upload


def find(dataset: str) -> SessionUpload | None:
    return all_uploads().get(dataset)


def names() -> tuple[str, ...]:
    return tuple(all_uploads())


def data_name(dataset: str) -> str:
    """The name the data layer loads `dataset` by: an upload's content key, else itself.
    DataError for an upload this session does not have (a lesson or link naming one)."""
    if not U.is_upload(dataset):
        return dataset
    upload = find(dataset)
    if upload is None:
        raise DataError(f"this lesson trains on your own images, {dataset}: upload that "
                        "dataset first (Your own images, on the Train page)")
    return upload.key
