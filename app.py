"""CNN Playground: `streamlit run app.py`."""
import streamlit as st

from playground.train.threads import use_one_thread_for_page_work
from playground.ui import ownership
from playground.ui import pages
from playground.ui import session
from playground.ui.build import page as build_page

st.set_page_config(page_title="CNN Playground", page_icon=":material/neurology:", layout="wide")
use_one_thread_for_page_work()
build_page.open_shared_lesson()  # a share link (?lesson=...) opens on any page
session.keep_presenting_in_address()

st.navigation(pages.streamlit_pages(), position="top").run()
# After the page, where their elements leave no gap above it: the switch floats in the
# top bar (CSS), the presentation CSS applies to the whole page wherever it sits.
session.presentation_toggle()
session.inject_presentation_css()
ownership.remember_in_browser()
