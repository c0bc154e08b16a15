"""User text reaches the pages as text: a hostile lesson name, description, file name or a
message quoting one never becomes a link, an image, an autolink or HTML.

Each page is rendered through AppTest with hostile text, and every string Streamlit renders
as Markdown (st.markdown/caption, alerts, expander and widget labels, help tooltips) is
checked for link, image, autolink and tag syntax that survived unescaped; Plotly text is
checked for tags.
"""
from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from playground import share
from playground import spec as S
from playground.presets import load_preset
from playground.ui.text import for_chart, plain
from tests.pages.test_build_page import PAGE as BUILD_PAGE
from tests.pages.test_inspect_page import (page_for, paused_run,  # noqa: F401 (fixture)
                                           synthetic_datasets)

TIMEOUT = 60
HOSTILE = [
    "![x](http://attacker/pixel.png) [Log in](http://attacker/login)",
    "<http://attacker/login> www.attacker.example me@attacker.example $\\href{x}{y}$ "
    "https://attacker.example/login WWW.ATTACKER.EXAMPLE mailto:me@attacker.example",
    "# Session expired\n> [Log in](http://attacker/login)\n\n[Log in][1]\n\n"
    "[1]: http://attacker/login",
    "\\[Log in\\](http://attacker/login) `[x](http://attacker/code)` :red[[x](http://a.b)]",
    '<a href="http://attacker/login">Log in</a><img src="http://attacker/pixel.png">',
    "1. [Log in](<http://attacker/login>) ![x][pixel]\n\n[pixel]: http://attacker/p.png",
]
# What a link, an image, an autolink or HTML needs, left unescaped by the page.
UNESCAPED = {
    "link or image": re.compile(r"(?<!\\)\]\s*[(\[]"),
    "bracket": re.compile(r"(?<!\\)\[(?!\*\*)"),  # the editor's own `:red[**` is not user text
    "angle bracket": re.compile(r"(?<!\\)<"),
    # GitHub links these even when escaped: they must not be left whole
    "bare address": re.compile(r"://|www\.|@\w", re.IGNORECASE),
    "directive": re.compile(r"(?<!\\):(?!red\[\*\*)[A-Za-z]"),
    "maths": re.compile(r"(?<!\\)\$"),
    "heading or quote": re.compile(r"(^|\n)\s*[#>]"),
}


def markdown_texts(at: AppTest) -> Iterator[str]:
    """Every string on the page that Streamlit renders as Markdown."""
    def walk(node) -> Iterator[str]:
        proto = getattr(node, "proto", None)
        if proto is not None and type(proto).__name__ in ("Markdown", "Alert"):
            yield proto.body
        elif proto is not None and hasattr(proto, "DESCRIPTOR"):
            for field in ("label", "help"):
                if field in proto.DESCRIPTOR.fields_by_name and getattr(proto, field):
                    yield getattr(proto, field)
        children = getattr(node, "children", None)
        for child in (children.values() if isinstance(children, dict) else []):
            yield from walk(child)

    yield from walk(at._tree)


def chart_texts(at: AppTest) -> Iterator[str]:
    def strings(value) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    for chart in at.get("plotly_chart"):
        figure = json.loads(chart.proto.spec)
        yield from strings({"data": figure.get("data"), "layout": figure.get("layout")})


def assert_no_markup_from_user(at: AppTest, shown: str) -> None:
    """No Markdown string makes a link, image, autolink, tag or block of user text, and
    the user's text did reach the page (`shown`, a word from it, is there)."""
    assert not at.exception, at.exception
    texts = list(markdown_texts(at))
    assert any(shown in text for text in texts), texts
    for text in texts:
        for what, pattern in UNESCAPED.items():
            assert not pattern.search(text), f"{what} in {text!r}"
    for text in chart_texts(at):
        assert not re.search(r"<(a|img|span)\b", text, re.IGNORECASE), text


def hostile_lesson(text: str) -> S.ModelSpec:
    return load_preset("lenet5").replace(name=text[:S.LIMITS.max_name_chars], description=text)


# --- the helper ----------------------------------------------------------------------------

@pytest.mark.parametrize("text", HOSTILE)
def test_plain_leaves_no_markup(text):
    escaped = plain(text)
    assert "\n" not in escaped
    for what, pattern in UNESCAPED.items():
        assert not pattern.search(escaped), f"{what} in {escaped!r}"
    assert "<a" not in for_chart(text) and "<img" not in for_chart(text)


@pytest.mark.parametrize("text", ["TinyVGG (CIFAR-10)", "LeNet-5", "bad.json",
                                  "Lesson 3: pooling", "Ünïcode & more", "T-shirt/top"])
def test_ordinary_names_are_unchanged(text):
    assert plain(text) == text and for_chart(text) == text.replace("&", "&amp;")


# --- the pages -----------------------------------------------------------------------------

def build_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_string(BUILD_PAGE, default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    at.run()
    return at


@pytest.mark.parametrize("text", HOSTILE)
def test_build_page_with_a_hostile_shared_lesson(text):
    at = build_page({share.PARAM: share.encode(hostile_lesson(text))})
    assert any("Opened the shared lesson" in s.value for s in at.success)
    assert_no_markup_from_user(at, "attacker")


def test_build_page_with_a_broken_link_quoting_hostile_text():
    lesson = {**load_preset("lenet5").to_dict(), "[Log in](http://x.io)": 1}
    packed = base64.urlsafe_b64encode(zlib.compress(json.dumps(lesson).encode()))
    at = build_page({share.PARAM: packed.decode().rstrip("=")})
    assert any("unknown field" in e.value for e in at.error)
    assert_no_markup_from_user(at, "Log in")


@pytest.mark.parametrize("text", HOSTILE[:3])
def test_build_page_lesson_files_with_hostile_file_names(text):
    at = build_page()
    name = text.replace("\n", " ") + ".json"
    upload = share.to_file_bytes(hostile_lesson(text))
    at.file_uploader[0].set_value((name, upload, "application/json")).run()
    assert any("Opened" in s.value for s in at.success)
    assert_no_markup_from_user(at, "attacker")
    at.file_uploader[0].set_value((name, b'{"version": 1, "name": 3}',
                                   "application/json")).run()
    assert any("was not opened" in e.value for e in at.error)
    assert_no_markup_from_user(at, "attacker")


def train_page_script() -> None:
    from playground.ui import train_page

    train_page.render()


@pytest.mark.parametrize("text", HOSTILE)
def test_train_page_caption_under_the_title(text):
    at = AppTest.from_function(train_page_script, default_timeout=TIMEOUT)
    at.session_state["spec"] = hostile_lesson(text)
    at.run()
    assert_no_markup_from_user(at, "attacker")


@pytest.fixture(scope="module")
def lenet_run():
    run = paused_run("lenet5", (1, 28, 28))
    yield run
    run.executor.free(run.run_id)


def test_inspect_page_uploads_with_hostile_file_names(lenet_run):
    at = page_for(lenet_run)
    at.radio(key="insp_source").set_value("Upload").run()
    picture = cv2.imencode(".png", np.full((40, 30), 255, np.uint8))[1].tobytes()
    for text in HOSTILE:
        name = text.replace("\n", " ") + ".png"
        at.file_uploader(key="insp_upload").set_value((name, b"not an image", "image/png"))
        at.run()
        assert any("only PNG and JPEG" in e.value for e in at.error)
        assert_no_markup_from_user(at, "attacker")
        at.file_uploader(key="insp_upload").set_value((name, picture, "image/png")).run()
        assert not at.error
        titles = [t for t in chart_texts(at) if "as 28x28" in t]
        assert titles and all("attacker" in t for t in titles)
        assert_no_markup_from_user(at, "Probe image")
