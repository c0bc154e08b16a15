"""The Streamlit user interface: widgets and layout only; the work happens in the core."""
