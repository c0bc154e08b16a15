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
from playground.ui.build.layer_labels import FIELD_LABELS, NAMES, in_page_words, layer_summary
from playground.ui.text import plain

FIELD_HELP = {"bottleneck_width": "Empty: a basic block (two 3x3 convs). A number: a "
                                  "bottleneck block (1x1 down to this width, 3x3, 1x1 up)",
              "stride": "Step between windows; pools default to their kernel size",
              "padding": "Zeros added on every side",
              "dilation": "Gaps between kernel taps: the kernel covers K + (K-1)(D-1) pixels"}
FLOAT_FIELDS = ("p", "negative_slope")
EDITED_PANEL_KEY = "build_edited_panel"  # index of the layer whose field changed last
SORTABLE_STYLE = """
.sortable-component {border: none; padding: 0; margin: 0; font-family: Arial, sans-serif;}
.sortable-container {background: transparent; padding: 0;}
.sortable-item, .sortable-item:hover {background: #ddf4ff; color: #0b3d6b;
  border: 1px solid #54aeff; border-radius: 6px; font-size: 15px; padding: 2px 8px;
  margin: 2px 3px; font-weight: 600;}
.sortable-container-header {font-size: 14px; color: #57606a; padding: 4px 3px 0;}
.sortable-container + .sortable-container .sortable-item {background: #f6f8fa;
  color: #24292f; border: 1px dashed #8c959f; font-weight: 500;}
"""


NETWORK_HEADER = "Network: drag a layer to move it"
PALETTE_HEADER = "New layers: drag a type into its place in the network"
# Sortables tells items apart by their text: network chips start with their index,
# palette chips with "+", so no two are alike.
PALETTE_ITEMS = {f"+ {NAMES[layer_type]}": layer_type for layer_type in S.LAYER_TYPES}


def drag_strip(model_spec: S.ModelSpec) -> None:
    """The layers as chips in a row, and the layer types in a row below: dropping a layer
    elsewhere reorders the network, dropping a type into it adds a layer there."""
    from streamlit_sortables import sort_items

    chips = [f"{i}: {layer_summary(layer)}" for i, layer in enumerate(model_spec.layers)]
    containers = [{"header": NETWORK_HEADER, "items": chips},
                  {"header": PALETTE_HEADER, "items": list(PALETTE_ITEMS)}]
    result = sort_items(containers, multi_containers=True, direction="horizontal",
                        custom_style=SORTABLE_STYLE,
                        key=f"order-{st.session_state.get(state.VERSION_KEY, 0)}")
    dropped = _network_items(result)
    if dropped is None or dropped == chips:
        return
    arrangement = _arrangement(dropped, chips)
    if arrangement is not None:
        state.arrange_layers(arrangement)
    else:  # a layer dropped on the palette: put every chip back where it was
        st.session_state[state.VERSION_KEY] = st.session_state.get(state.VERSION_KEY, 0) + 1
    st.rerun()


def _network_items(result: Any) -> list[str] | None:
    """The network row's chips after a drop (the only row when a test sends one)."""
    if not isinstance(result, list) or not result or not isinstance(result[0], dict):
        return None
    network = next((row for row in result if row.get("header") == NETWORK_HEADER), result[0])
    return list(network.get("items", []))


def _arrangement(dropped: list[str], chips: list[str]) -> list[int | str] | None:
    """Old layer indices and new layer types in their new order, or None unless every
    layer is still in the network."""
    arrangement: list[int | str] = []
    for item in dropped:
        if item in PALETTE_ITEMS:
            arrangement.append(PALETTE_ITEMS[item])
        elif item in chips:
            arrangement.append(chips.index(item))
        else:
            return None
    kept = sorted(entry for entry in arrangement if isinstance(entry, int))
    return arrangement if kept == list(range(len(chips))) else None


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
    edited = st.session_state.get(EDITED_PANEL_KEY)
    for index, layer in enumerate(model_spec.layers):
        label = f"**{index}** · {layer_summary(layer)}"
        if index == bad:
            label = f":red[**{index} · {layer_summary(layer)}: {plain(in_page_words(error.reason))}**]"
        # The browser keeps a keyed panel open or closed while its label changes with each
        # edit, and opens a panel anew (as `expanded` says) when its key changes: so a layer
        # that turns bad opens, and the one being fixed stays open when it turns good.
        key = f"layer-panel-{index}" + ("-bad" if index == bad else "")
        with st.expander(label, expanded=index in (bad, edited), key=key,
                         icon=":material/error:" if index == bad else None):
            if index == bad:  # in the words of the fields right below it
                st.error(plain(in_page_words(error.reason)))
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
    st.session_state[EDITED_PANEL_KEY] = index
    state.set_field(index, name, value)
