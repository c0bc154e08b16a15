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
    default: bool = False  # also the page at the app's root address


PAGES = (AppPage("Build", ":material/construction:", "build", build_page.render),
         AppPage("Train", ":material/fitness_center:", "train", train_page.render, default=True),
         AppPage("Inspect", ":material/biotech:", "inspect", inspect_page.render),
         AppPage("Learn", ":material/school:", "learn", learn_page.render))
# Only on a server with PLAYGROUND_ADMIN_TOKEN set; it asks for the token itself.
ADMIN_PAGE = AppPage("Admin", ":material/admin_panel_settings:", "admin", admin_page.render)


def app_pages() -> tuple[AppPage, ...]:
    """The pages of this server: the administrator's only when its token is set."""
    return PAGES + ((ADMIN_PAGE,) if admin_page.admin_token() else ())


# Streamlit gives its default page the root address and ignores its url_path, so a
# default Train page would leave /train "not found". The root is instead a hidden copy of
# the default page; its own url_path only names it inside Streamlit (the address is "/").
ROOT_PAGE_ID = "home"


def streamlit_pages() -> list[st.Page]:
    """Every page at its own address, then the hidden root page. The root page comes last
    so that, where pages are looked up by title, the default page's entry is the root."""
    listed = [st.Page(page.render, title=page.title, icon=page.icon, url_path=page.url_path)
              for page in app_pages()]
    default = next(page for page in app_pages() if page.default)
    root = st.Page(default.render, title=default.title, icon=default.icon,
                   url_path=ROOT_PAGE_ID, default=True, visibility="hidden")
    return [*listed, root]
