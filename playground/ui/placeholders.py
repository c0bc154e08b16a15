"""Pages whose issues have not landed yet: they say what is coming and where to go now."""
from __future__ import annotations

import streamlit as st


def learn() -> None:
    st.title("Learn")
    st.info("Coming soon: interactive lessons on convolution, stride, padding and dilation, "
            "pooling, receptive fields, parameter sharing, BatchNorm, dropout and residual "
            "blocks. Meanwhile every number on the **Build** page opens into its formula.")
