"""A hostile shared lesson in headless Chromium: its name and description show as text on
the Build and Train pages, with no link, image or outside request made from them.

The page tests check the Markdown the app writes; this checks what the browser makes of
it (GitHub's bare-address links, for one, are found after escapes are read)."""
from __future__ import annotations

import pytest

from playground import share
from playground.presets import load_preset
from tests.pages.test_user_text import HOSTILE
from tests.support import needs_data

pytestmark = [pytest.mark.browser, needs_data]
NAME = HOSTILE[0]
DESCRIPTION = " ".join(HOSTILE)
OUTSIDE = ("attacker", "a.b")


def _open_lesson(browser, server: str, page_name: str, shown: str):
    lesson = load_preset("lenet5").replace(name=NAME, description=DESCRIPTION)
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(share.share_url(server, lesson, page=page_name))
    page.get_by_text(shown).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1_000)  # let every element of the page render
    return page, requests


def _made_from_user_text(page, requests: list[str]) -> list[str]:
    found = page.evaluate("""() => [...document.querySelectorAll(
        '[data-testid=stMain] a[href], [data-testid=stMain] img, [data-testid=stMain] h1 ~ h1,'
        + '[data-testid=stMain] blockquote, [data-testid=stMain] .katex')]
        .map(element => element.outerHTML.slice(0, 160))""")
    found = [html for html in found if any(word in html for word in OUTSIDE)
             or "blockquote" in html or "katex" in html]
    return found + [url for url in requests if any(word in url for word in OUTSIDE)]


@pytest.mark.parametrize("page_name, shown", [("build", "Opened the shared lesson"),
                                              ("train", "Train a CNN, live")])
def test_a_hostile_lesson_shows_as_text(server, browser, page_name, shown):
    page, requests = _open_lesson(browser, server, page_name, shown)
    assert page.get_by_text("[Log in](http").count() >= 1  # the name, as typed
    assert _made_from_user_text(page, requests) == []
    page.close()
