"""Figure builders for the Learn page, one module per lesson topic: arrays and lesson
results in, plotly figures out. No Streamlit and no torch here (results are read, never
computed); every builder draws with a `Style`."""
