"""The Build page's layer editor: the palette, the drag strip, and one panel per layer
with its fields and Up/Down/Copy/Delete buttons.

Widgets are "controlled": before each field is drawn its state is set from the spec, and
its callback writes the change back through the edits in `state`, which record history.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st

from playground import spec as S
from playground.ui.build import state
from playground.ui.build.layer_labels import NAMES, layer_summary
from playground.ui.text import plain

FIELD_LABELS = {"out_channels": "Filters (out channels)", "kernel_size": "Kernel size",
                "stride": "Stride", "padding": "Padding", "dilation": "Dilation",
                "bias": "Bias", "negative_slope": "Negative slope", "p": "Drop probability",
                "out_features": "Outputs", "bottleneck_width": "Bottleneck width"}
FIELD_HELP = {"bottleneck_width": "Empty: a basic block (two 3x3 convs). A number: a "
                                  "bottleneck block (1x1 down to this width, 3x3, 1x1 up)",
              "stride": "Step between windows; pools default to their kernel size",
              "padding": "Zeros added on every side",
              "dilation": "Gaps between kernel taps: the kernel covers K + (K-1)(D-1) pixels"}
FLOAT_FIELDS = ("p", "negative_slope")
SORTABLE_STYLE = """
.sortable-component {border: none; padding: 0; margin: 0; font-family: Arial, sans-serif;}
.sortable-container {background: transparent; padding: 0;}
.sortable-item, .sortable-item:hover {background: #ddf4ff; color: #0b3d6b;
  border: 1px solid #54aeff; border-radius: 6px; font-size: 15px; padding: 2px 8px;
  margin: 2px 3px; font-weight: 600;}
"""


def drag_strip(model_spec: S.ModelSpec) -> None:
    """The layers as chips in a row; dropping one elsewhere reorders the network."""
    if not model_spec.layers:
        return
    from streamlit_sortables import sort_items

    items = [f"{i}: {layer_summary(layer)}" for i, layer in enumerate(model_spec.layers)]
    st.caption("Drag a layer to reorder the network (or use the Up and Down buttons in "
               "its panel below).")
    result = sort_items(items, direction="horizontal", custom_style=SORTABLE_STYLE,
                        key=f"order-{st.session_state.get(state.VERSION_KEY, 0)}")
    if isinstance(result, list) and result != items and sorted(result) == sorted(items):
        state.reorder_layers([int(item.split(":", 1)[0]) for item in result])
        st.rerun()


def palette(model_spec: S.ModelSpec) -> None:
    st.subheader("Layers")
    n = len(model_spec.layers)
    st.selectbox("Where new layers go", list(range(n + 1)), index=n, key=f"palette-position-{n}",
                 format_func=lambda p: "at the end" if p == n else
                 f"before layer {p} ({layer_summary(model_spec.layers[p])})")
    st.pills("Add a layer (click a type)", S.LAYER_TYPES, format_func=NAMES.get, wrap=True,
             key="palette", on_change=_palette_added, disabled=n >= S.LIMITS.max_layers,
             help="Conv, pools, activations, normalisation, dropout, flatten, linear, "
                  "global average pooling and residual blocks, with sensible defaults")


def _palette_added() -> None:
    layer_type = st.session_state.get("palette")
    if layer_type:
        n = len(state.draft().layers)
        position = st.session_state.get(f"palette-position-{n}", n)
        state.add_layer(layer_type, position)
        st.session_state["palette"] = None


def layer_stack(model_spec: S.ModelSpec, error: S.SpecError | None) -> None:
    """One expander per layer; the one that cannot work is open, red, with the reason."""
    bad = error.layer_index if error is not None else None
    for index, layer in enumerate(model_spec.layers):
        label = f"**{index}** · {layer_summary(layer)}"
        if index == bad:
            label = f":red[**{index} · {layer_summary(layer)}: {plain(error.reason)}**]"
        with st.expander(label, expanded=index == bad, icon=":material/error:"
                         if index == bad else None):
            if index == bad:
                st.error(plain(error.reason))
            _fields(index, layer)
            _layer_buttons(index, len(model_spec.layers))
    if not model_spec.layers:
        st.info("No layers yet: the network is just the automatic classifier head. "
                "Click a layer type above to add one.")


def _layer_buttons(index: int, count: int) -> None:
    buttons = st.columns(4)
    buttons[0].button("Up", key=f"up-{index}", icon=":material/arrow_upward:",
                      disabled=index == 0, on_click=state.move_layer, args=(index, -1),
                      width="stretch")
    buttons[1].button("Down", key=f"down-{index}", icon=":material/arrow_downward:",
                      disabled=index == count - 1,
                      on_click=state.move_layer, args=(index, 1), width="stretch")
    buttons[2].button("Copy", key=f"copy-{index}", icon=":material/content_copy:",
                      on_click=state.duplicate_layer, args=(index,), width="stretch",
                      help="Duplicate this layer just below it")
    buttons[3].button("Delete", key=f"delete-{index}", icon=":material/delete:",
                      on_click=state.delete_layer, args=(index,), width="stretch")


def _integer_ranges() -> dict[str, tuple[int, int]]:
    limits = S.LIMITS
    return {"out_channels": (1, limits.max_channels), "kernel_size": (1, limits.max_kernel),
            "stride": (1, limits.max_stride), "padding": (0, limits.max_padding),
            "dilation": (1, limits.max_dilation), "out_features": (1, limits.max_features),
            "bottleneck_width": (1, limits.max_channels)}


def _fields(index: int, layer: S.Layer) -> None:
    values = dataclasses.asdict(layer)
    if not values:
        st.caption("Nothing to configure.")
        return
    columns = st.columns(3)
    ranges = _integer_ranges()
    for position, (name, value) in enumerate(values.items()):
        key = f"layer-{index}-{name}"
        column = columns[position % 3]
        label = FIELD_LABELS.get(name, name)
        common = dict(key=key, on_change=_field_changed, args=(index, name, key),
                      help=FIELD_HELP.get(name))
        if name == "bias":
            state.controlled(key, bool(value))
            column.checkbox(label, **common)
        elif name in FLOAT_FIELDS:
            state.controlled(key, float(value))
            high = 0.99 if name == "p" else 1.0
            column.number_input(label, 0.0, high, step=0.05 if name == "p" else 0.01,
                                format="%g", **common)
        else:
            low, high = ranges[name]
            state.controlled(key, None if value is None else int(value))
            column.number_input(label, low, high, step=1, placeholder="basic block"
                                if name == "bottleneck_width" else None, **common)


def _field_changed(index: int, name: str, key: str) -> None:
    value: Any = st.session_state[key]
    if isinstance(value, float) and name not in FLOAT_FIELDS:
        value = int(value)
    state.set_field(index, name, value)
