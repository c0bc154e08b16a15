"""The app's pages, in the order of its navigation bar."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import streamlit as st

from playground.ui import admin_page
from playground.ui import inspect_page
from playground.ui import train_page
from playground.ui.build import page as build_page
from playground.ui.learn import page as learn_page


@dataclass(frozen=True)
class AppPage:
    title: str
    icon: str  # a Streamlit material icon: its font ships with Streamlit, emoji fonts may not
    url_path: str
    render: Callable[[], None]
    default: bool = False  # the page at the app's root address


PAGES = (AppPage("Build", ":material/construction:", "build", build_page.render),
         AppPage("Train", ":material/fitness_center:", "train", train_page.render, default=True),
         AppPage("Inspect", ":material/biotech:", "inspect", inspect_page.render),
         AppPage("Learn", ":material/school:", "learn", learn_page.render))
# Only on a server with PLAYGROUND_ADMIN_TOKEN set; it asks for the token itself.
ADMIN_PAGE = AppPage("Admin", ":material/admin_panel_settings:", "admin", admin_page.render)


def app_pages() -> tuple[AppPage, ...]:
    """The pages of this server: the administrator's only when its token is set."""
    return PAGES + ((ADMIN_PAGE,) if admin_page.admin_token() else ())


def streamlit_pages() -> list[st.Page]:
    return [st.Page(page.render, title=page.title, icon=page.icon, url_path=page.url_path,
                    default=page.default) for page in app_pages()]
