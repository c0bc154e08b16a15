"""CNN Playground: `streamlit run app.py`."""
import streamlit as st

from playground.ui import build_page
from playground.ui import inspect_page
from playground.ui.learn import page as learn_page
from playground.ui import train_page
from playground.train.threads import use_one_thread_for_page_work

st.set_page_config(page_title="CNN Playground", page_icon="🧠", layout="wide")
use_one_thread_for_page_work()
build_page.open_shared_lesson()  # a share link (?lesson=...) opens on any page

navigation = st.navigation([
    st.Page(build_page.render, title="Build", icon="🧱", url_path="build"),
    st.Page(train_page.render, title="Train", icon="🏋️", url_path="train", default=True),
    st.Page(inspect_page.render, title="Inspect", icon="🔬", url_path="inspect"),
    st.Page(learn_page.render, title="Learn", icon="🎓", url_path="learn"),
], position="top")
navigation.run()
