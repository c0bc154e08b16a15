"""CNN Playground: `streamlit run app.py`."""
import streamlit as st

from playground.train.threads import use_one_thread_for_page_work
from playground.ui import ownership
from playground.ui import pages
from playground.ui.build import page as build_page

st.set_page_config(page_title="CNN Playground", page_icon=":material/neurology:", layout="wide")
use_one_thread_for_page_work()
build_page.open_shared_lesson()  # a share link (?lesson=...) opens on any page

st.navigation(pages.streamlit_pages(), position="top").run()
ownership.remember_in_browser()  # after the page: its empty element leaves no gap above
