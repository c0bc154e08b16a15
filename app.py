"""CNN Playground: `streamlit run app.py`."""
import streamlit as st

from playground.train import configure_threads
from playground.ui import train_page

st.set_page_config(page_title="CNN Playground", page_icon="🧠", layout="wide")
configure_threads()

navigation = st.navigation([
    st.Page(train_page.render, title="Train", icon="🏋️", url_path="train", default=True),
])
navigation.run()
