"""Build page: a layer palette and stack, a live architecture table, a picture of the
network, and lessons that travel as a link or a file.

The page edits the session's spec (the one every page shares) and nothing else. Edits
that make an impossible network are kept as a draft beside the last valid spec, so the
Train page never sees an invalid network: `session.current_spec()` is always valid, the
draft lives under DRAFT_KEY together with the valid spec it started from, and the
offending layer shows red with the reason until it is fixed or undone.

Widgets are "controlled": before each field is drawn its state is set from the spec, and
its callback writes the change back through `commit`, which records undo history.
"""
from __future__ import annotations

import dataclasses
import html

import streamlit as st

from playground import checkpoint
from playground.figures import diagram
from playground.model import formulas as F
from playground.model import build as M
from playground import share
from playground import spec as S
from playground.data.datasets import DATASET_NAMES, KNOWN_SHAPES
from playground.presets import load_preset, preset_names
from playground.ui import runs
from playground.ui import session

DRAFT_KEY = "build_draft"        # (valid spec it started from, invalid draft)
UNDO_KEY, REDO_KEY = session.UNDO_KEY, session.REDO_KEY
VERSION_KEY = "build_version"    # bumped on every change: remounts the drag list
MESSAGE_KEY = "build_message"    # (kind, text) shown once on the next run
APPLIED_KEY = "lesson_applied"   # the `lesson` URL value this session already opened
UPLOADS_KEY = "build_uploads"    # bumped to clear the file uploader
HISTORY = 50

DEFAULTS = {"conv": dict(out_channels=8, kernel_size=3, padding=1),
            "maxpool": dict(kernel_size=2), "avgpool": dict(kernel_size=2),
            "linear": dict(out_features=64), "residual": dict(out_channels=16)}
NAMES = {"conv": "conv", "maxpool": "max pool", "avgpool": "avg pool", "relu": "ReLU",
         "leaky_relu": "leaky ReLU", "sigmoid": "sigmoid", "tanh": "tanh", "gelu": "GELU",
         "batchnorm": "batch norm", "dropout": "dropout", "flatten": "flatten",
         "linear": "linear", "global_avgpool": "global avg pool", "residual": "residual block"}
FIELD_LABELS = {"out_channels": "Filters (out channels)", "kernel_size": "Kernel size",
                "stride": "Stride", "padding": "Padding", "dilation": "Dilation",
                "bias": "Bias", "negative_slope": "Negative slope", "p": "Drop probability",
                "out_features": "Outputs", "bottleneck_width": "Bottleneck width"}
FIELD_HELP = {"bottleneck_width": "Empty: a basic block (two 3x3 convs). A number: a "
                                  "bottleneck block (1x1 down to this width, 3x3, 1x1 up)",
              "stride": "Step between windows; pools default to their kernel size",
              "padding": "Zeros added on every side",
              "dilation": "Gaps between kernel taps: the kernel covers K + (K-1)(D-1) pixels"}
DEFAULT_PANELS = ("Confusion matrix", "Test images", "Diagnostics", "Compare runs",
                  "Kernels", "Feature maps", "Pooling", "Frequency", "Grad-CAM")


# --- state: the draft, undo and redo ---------------------------------------------------------

def draft() -> S.ModelSpec:
    """The network being edited: an invalid draft if there is one, else the session's spec."""
    current = session.current_spec()
    stored = st.session_state.get(DRAFT_KEY)
    if stored is not None and stored[0] == current:
        return stored[1]
    st.session_state.pop(DRAFT_KEY, None)  # another page changed the network meanwhile
    return current


def check(model_spec: S.ModelSpec) -> tuple[M.Analysis | None, S.SpecError | None,
                                             S.ModelSpec | None]:
    """(analysis, None, parsed spec) for a valid network, (None, the first problem, None)."""
    try:
        parsed = S.parse_spec(model_spec.to_dict())
        analysis = M.analyze(parsed)
        M.check_lesson_batch(parsed, analysis)  # what a share link of it will be checked for
        return analysis, None, parsed
    except S.SpecError as error:
        return None, error, None


def _store(model_spec: S.ModelSpec) -> None:
    _, error, parsed = check(model_spec)
    if error is None:
        session.set_spec(parsed, remember=False)  # commit/undo keep the history themselves
        st.session_state.pop(DRAFT_KEY, None)
    else:
        st.session_state[DRAFT_KEY] = (session.current_spec(), model_spec)
    st.session_state[VERSION_KEY] = st.session_state.get(VERSION_KEY, 0) + 1


def commit(model_spec: S.ModelSpec) -> None:
    """Make `model_spec` the network being edited; the previous one goes on the undo stack."""
    old = draft()
    if model_spec == old:
        return
    undo = st.session_state.setdefault(UNDO_KEY, [])
    undo.append(old)
    del undo[:-HISTORY]
    st.session_state[REDO_KEY] = []
    _store(model_spec)


def undo() -> None:
    stack = st.session_state.get(UNDO_KEY) or []
    if stack:
        st.session_state.setdefault(REDO_KEY, []).append(draft())
        _store(stack.pop())


def redo() -> None:
    stack = st.session_state.get(REDO_KEY) or []
    if stack:
        st.session_state.setdefault(UNDO_KEY, []).append(draft())
        _store(stack.pop())


def _message(kind: str, text: str) -> None:
    st.session_state[MESSAGE_KEY] = (kind, text)


# --- layer edits (button and widget callbacks) ------------------------------------------------

def _with_layers(layers: list[S.Layer]) -> None:
    commit(draft().replace(layers=layers))


def add_layer(layer_type: str, position: int | None = None) -> None:
    layers = list(draft().layers)
    if len(layers) >= S.LIMITS.max_layers:
        _message("error", f"A network has at most {S.LIMITS.max_layers} layers.")
        return
    position = len(layers) if position is None else max(0, min(position, len(layers)))
    layers.insert(position, S.make_layer(layer_type, **DEFAULTS.get(layer_type, {})))
    _with_layers(layers)


def move_layer(index: int, offset: int) -> None:
    layers = list(draft().layers)
    target = index + offset
    if 0 <= index < len(layers) and 0 <= target < len(layers):
        layers[index], layers[target] = layers[target], layers[index]
        _with_layers(layers)


def duplicate_layer(index: int) -> None:
    layers = list(draft().layers)
    if len(layers) >= S.LIMITS.max_layers:
        _message("error", f"A network has at most {S.LIMITS.max_layers} layers.")
        return
    layers.insert(index + 1, dataclasses.replace(layers[index]))
    _with_layers(layers)


def delete_layer(index: int) -> None:
    layers = list(draft().layers)
    del layers[index]
    _with_layers(layers)


def reorder_layers(order: list[int]) -> None:
    """Put the layers in `order` (old indices): the drag list's change."""
    layers = list(draft().layers)
    if sorted(order) == list(range(len(layers))) and order != sorted(order):
        _with_layers([layers[i] for i in order])


def set_field(index: int, name: str, value) -> None:
    layers = list(draft().layers)
    layer = layers[index]
    changes = {name: value}
    # a pool's stride follows its kernel while it has the default (stride = kernel)
    if name == "kernel_size" and layer.TYPE in ("maxpool", "avgpool") \
            and layer.stride == layer.kernel_size:
        changes["stride"] = value
    layers[index] = dataclasses.replace(layer, **changes)
    _with_layers(layers)


def _field_changed(index: int, name: str, key: str) -> None:
    value = st.session_state[key]
    if isinstance(value, float) and name not in ("p", "negative_slope"):
        value = int(value)
    set_field(index, name, value)


def _palette_added() -> None:
    layer_type = st.session_state.get("palette")
    if layer_type:
        n = len(draft().layers)
        position = st.session_state.get(f"palette-position-{n}", n)
        add_layer(layer_type, position)
        st.session_state["palette"] = None


def _preset_chosen() -> None:
    name = st.session_state.get("build_preset")
    if name:
        commit(load_preset(name))
        st.session_state["build_preset"] = None


def _network_changed(name: str, key: str) -> None:
    value = st.session_state[key]
    model_spec = draft()
    if name in ("C", "H", "W"):
        shape = list(model_spec.input)
        shape["CHW".index(name)] = int(value)
        commit(model_spec.replace(input=tuple(shape)))
    elif name == "num_classes":
        commit(model_spec.replace(num_classes=int(value)))
    else:
        commit(model_spec.replace(**{name: value}))


def _training_changed(name: str, key: str) -> None:
    value = st.session_state[key]
    model_spec = draft()
    section = model_spec.training or S.TrainingSpec()
    if name in ("batch_size", "epochs", "seed"):
        value = int(value)
    elif name in ("lr", "momentum", "weight_decay"):
        value = float(value)
    elif name == "hidden_panels":
        value = list(value) or None
    commit(model_spec.replace(training=dataclasses.replace(section, **{name: value})))


def adapt_to_dataset(dataset: str) -> None:
    shape, classes = KNOWN_SHAPES[dataset]
    commit(draft().replace(input=tuple(shape), num_classes=classes))
    _message("success", f"Adapted the network to {dataset}: input {list(shape)}, "
                        f"{classes} classes.")


def _uploaded() -> None:
    key = f"upload-{st.session_state.get(UPLOADS_KEY, 0)}"
    upload = st.session_state.get(key)
    st.session_state[UPLOADS_KEY] = st.session_state.get(UPLOADS_KEY, 0) + 1
    if upload is None:
        return
    try:
        lesson = share.from_file_bytes(upload.getvalue())
    except S.SpecError as error:
        _message("error", f"**{upload.name}** was not opened: {error}")
        return
    commit(lesson)
    _message("success", f"Opened **{lesson.name}** from {upload.name}.")


def open_shared_lesson() -> None:
    """Apply a `lesson` in the URL once per session (called by app.py for every page)."""
    value = st.query_params.get(share.PARAM)
    if not value or value == st.session_state.get(APPLIED_KEY):
        return
    st.session_state[APPLIED_KEY] = value
    try:
        lesson = share.decode(value)
    except S.SpecError as error:
        _message("error", f"The shared link could not be opened: {error}")
        return
    commit(lesson)
    _message("success", f"Opened the shared lesson **{lesson.name}**.")


# --- describing layers -------------------------------------------------------------------------

def layer_summary(layer: S.Layer) -> str:
    kind = layer.TYPE
    if kind == "conv":
        parts = [f"conv {layer.out_channels}", f"{layer.kernel_size}x{layer.kernel_size}"]
        if layer.stride != 1:
            parts.append(f"stride {layer.stride}")
        if layer.padding:
            parts.append(f"pad {layer.padding}")
        if layer.dilation != 1:
            parts.append(f"dilation {layer.dilation}")
        if not layer.bias:
            parts.append("no bias")
        return " · ".join(parts)
    if kind in ("maxpool", "avgpool"):
        parts = [f"{NAMES[kind]} {layer.kernel_size}x{layer.kernel_size}"]
        if layer.stride not in (None, layer.kernel_size):
            parts.append(f"stride {layer.stride}")
        if layer.padding:
            parts.append(f"pad {layer.padding}")
        return " · ".join(parts)
    if kind == "linear":
        return f"linear {layer.out_features}"
    if kind == "residual":
        parts = [f"residual {layer.out_channels}"]
        if layer.stride != 1:
            parts.append(f"stride {layer.stride}")
        if layer.bottleneck_width is not None:
            parts.append(f"bottleneck {layer.bottleneck_width}")
        return " · ".join(parts)
    if kind == "dropout":
        return f"dropout {layer.p:g}"
    if kind == "leaky_relu":
        return f"leaky ReLU {layer.negative_slope:g}"
    return NAMES[kind]


# --- the page ----------------------------------------------------------------------------------

def render() -> None:
    st.session_state.setdefault(VERSION_KEY, 0)
    model_spec = draft()
    analysis, error, _ = check(model_spec)
    valid_spec = session.current_spec()
    valid_analysis = analysis if error is None else check(valid_spec)[0]

    _css()
    st.title("Build a CNN")
    _toolbar(model_spec, error)
    message = st.session_state.pop(MESSAGE_KEY, None)
    if message:
        getattr(st, message[0])(message[1])
    if error is not None:
        st.error(_error_text(model_spec, error), icon=":material/block:")
    _drag_strip(model_spec)
    if valid_analysis is not None:
        st.plotly_chart(diagram.network_figure(
            valid_analysis, height=300,
            error_text=None if error is None else "showing the last valid network"),
            width="stretch", key="diagram", config={"displayModeBar": False})
    left, right = st.columns([5, 7], gap="medium")
    with left:
        _palette(model_spec)
        _stack(model_spec, error)
    with right:
        _table(model_spec, analysis, error)
    _dataset_fit(model_spec)
    st.divider()
    _lesson_settings(model_spec)
    _share_and_export(valid_spec, valid_analysis, error is not None)
    _sync_url(valid_spec)


def _error_text(model_spec: S.ModelSpec, error: S.SpecError) -> str:
    if error.layer_index is None:
        where, reason = "The network", str(error)
    elif error.layer_index >= len(model_spec.layers):
        where = (f"The automatic classifier head (layer {error.layer_index}, "
                 f"{NAMES.get(error.layer_type, error.layer_type)})")
        reason = (f"{error.reason}; shrink the feature maps first (pooling, strides or a "
                  "global average pool)")
    else:
        where = f"Layer {error.layer_index} ({NAMES.get(error.layer_type, error.layer_type)})"
        reason = error.reason
    return (f"**{where} cannot work:** {reason}. Training keeps using the last valid network "
            "until this is fixed (or press Undo).")


def _css() -> None:
    st.html("""<style>
[data-testid="stMainBlockContainer"] {padding-top: 2.2rem;}
.pg-table {border-collapse: collapse; width: 100%; font-size: 17px;}
.pg-table th {text-align: left; border-bottom: 2px solid #d0d7de; padding: 4px 6px;
  font-size: 15px; color: #57606a; font-weight: 600; white-space: nowrap;}
.pg-table td {border-bottom: 1px solid #eaeef2; padding: 4px 6px; vertical-align: top;}
.pg-table td.num {text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap;}
.pg-table td.name {white-space: nowrap;}
.pg-table tr.auto td {color: #57606a; font-style: italic;}
.pg-table tr.bad td {background: #ffebe9; color: #b42318; font-weight: 600;}
.pg-table tr.bad-reason td {background: #ffebe9; color: #b42318; font-size: 16px;}
.pg-table tr.later td {color: #8c959f;}
.pg-table summary, .pg-total summary {cursor: pointer; list-style: none;
  text-decoration: underline dotted #8c959f; text-underline-offset: 4px;}
.pg-table summary::-webkit-details-marker, .pg-total summary::-webkit-details-marker
  {display: none;}
.pg-table details[open] > summary {background: #ddf4ff; border-radius: 4px;}
.pg-table tr.fx {display: none;}
.pg-table tr:has(details[open]) + tr.fx {display: table-row;}
.pg-table tr.fx > td {background: #f6f8fa; border-bottom: 2px solid #d0d7de;}
.pg-fxs {display: flex; flex-wrap: wrap; gap: 6px 12px;}
.pg-fxs > div {display: none; flex: 1 1 260px;}
.pg-table tr:has(td.c-out details[open]) + tr.fx .fx-out,
.pg-table tr:has(td.c-params details[open]) + tr.fx .fx-params,
.pg-table tr:has(td.c-rf details[open]) + tr.fx .fx-rf,
.pg-table tr:has(td.c-jump details[open]) + tr.fx .fx-jump,
.pg-table tr:has(td.c-macs details[open]) + tr.fx .fx-macs {display: block;}
.pg-fx-label {font-size: 14px; font-weight: 600; color: #0969da;}
.pg-fx {font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 15px;
  font-weight: normal; font-style: normal; color: #1f2328; text-align: left;
  background: white; border-left: 3px solid #0969da; padding: 3px 8px; margin: 2px 0;}
.pg-fx .gen {color: #57606a; font-size: 14px;}
.pg-fx .note {font-family: Arial, sans-serif; color: #57606a; font-size: 14px;}
.pg-totals {display: flex; gap: 14px; flex-wrap: wrap; margin-top: 10px;}
.pg-total {flex: 1 1 180px; border: 1px solid #d0d7de; border-radius: 8px; padding: 6px 10px;}
.pg-total .label {font-size: 15px; color: #57606a;}
.pg-total summary {font-size: 24px; font-weight: 600;}
.pg-total .pg-fx {font-size: 14px;}
</style>""")


def _toolbar(model_spec: S.ModelSpec, error: S.SpecError | None) -> None:
    columns = st.columns([3.0, 1.05, 1.05, 4.4], vertical_alignment="bottom")
    columns[0].selectbox("Load a preset network", preset_names(), index=None,
                         placeholder=f"{model_spec.name} (choose a preset)",
                         format_func=lambda name: load_preset(name).name, key="build_preset",
                         on_change=_preset_chosen)
    columns[1].button("Undo", icon=":material/undo:", width="stretch", key="undo",
                      disabled=not st.session_state.get(UNDO_KEY), on_click=undo,
                      help="Take back the last edit")
    columns[2].button("Redo", icon=":material/redo:", width="stretch", key="redo",
                      disabled=not st.session_state.get(REDO_KEY), on_click=redo,
                      help="Do the undone edit again")
    if model_spec.description:
        columns[3].caption(f"**{model_spec.name}**: {model_spec.description}")
    else:
        columns[3].caption(f"**{model_spec.name}**")


def _drag_strip(model_spec: S.ModelSpec) -> None:
    if not model_spec.layers:
        return
    from streamlit_sortables import sort_items

    items = [f"{i}: {layer_summary(layer)}" for i, layer in enumerate(model_spec.layers)]
    st.caption("Drag a layer to reorder the network (or use the Up and Down buttons in "
               "its panel below).")
    result = sort_items(items, direction="horizontal", custom_style=_SORTABLE_STYLE,
                        key=f"order-{st.session_state.get(VERSION_KEY, 0)}")
    if isinstance(result, list) and result != items and sorted(result) == sorted(items):
        reorder_layers([int(item.split(":", 1)[0]) for item in result])
        st.rerun()


_SORTABLE_STYLE = """
.sortable-component {border: none; padding: 0; margin: 0; font-family: Arial, sans-serif;}
.sortable-container {background: transparent; padding: 0;}
.sortable-item, .sortable-item:hover {background: #ddf4ff; color: #0b3d6b;
  border: 1px solid #54aeff; border-radius: 6px; font-size: 15px; padding: 2px 8px;
  margin: 2px 3px; font-weight: 600;}
"""


def _palette(model_spec: S.ModelSpec) -> None:
    st.subheader("Layers")
    n = len(model_spec.layers)
    st.selectbox("Where new layers go", list(range(n + 1)), index=n, key=f"palette-position-{n}",
                 format_func=lambda p: "at the end" if p == n else
                 f"before layer {p} ({layer_summary(model_spec.layers[p])})")
    st.pills("Add a layer (click a type)", S.LAYER_TYPES, format_func=NAMES.get, wrap=True,
             key="palette", on_change=_palette_added, disabled=n >= S.LIMITS.max_layers,
             help="Conv, pools, activations, normalisation, dropout, flatten, linear, "
                  "global average pooling and residual blocks, with sensible defaults")


def _stack(model_spec: S.ModelSpec, error: S.SpecError | None) -> None:
    bad = error.layer_index if error is not None else None
    for index, layer in enumerate(model_spec.layers):
        label = f"**{index}** · {layer_summary(layer)}"
        if index == bad:
            label = f":red[**{index} · {layer_summary(layer)}: {error.reason}**]"
        with st.expander(label, expanded=index == bad, icon=":material/error:"
                         if index == bad else None):
            if index == bad:
                st.error(error.reason)
            _fields(index, layer)
            buttons = st.columns(4)
            buttons[0].button("Up", key=f"up-{index}", icon=":material/arrow_upward:",
                              disabled=index == 0, on_click=move_layer, args=(index, -1),
                              width="stretch")
            buttons[1].button("Down", key=f"down-{index}", icon=":material/arrow_downward:",
                              disabled=index == len(model_spec.layers) - 1,
                              on_click=move_layer, args=(index, 1), width="stretch")
            buttons[2].button("Copy", key=f"copy-{index}", icon=":material/content_copy:",
                              on_click=duplicate_layer, args=(index,), width="stretch",
                              help="Duplicate this layer just below it")
            buttons[3].button("Delete", key=f"delete-{index}", icon=":material/delete:",
                              on_click=delete_layer, args=(index,), width="stretch")
    if not model_spec.layers:
        st.info("No layers yet: the network is just the automatic classifier head. "
                "Click a layer type above to add one.")


def _controlled(key: str, value) -> str:
    """Set a widget's state from the spec before it is drawn (the spec is the truth)."""
    st.session_state[key] = value
    return key


def _fields(index: int, layer: S.Layer) -> None:
    values = dataclasses.asdict(layer)
    if not values:
        st.caption("Nothing to configure.")
        return
    columns = st.columns(3)
    limits = S.LIMITS
    ranges = {"out_channels": (1, limits.max_channels), "kernel_size": (1, limits.max_kernel),
              "stride": (1, limits.max_stride), "padding": (0, limits.max_padding),
              "dilation": (1, limits.max_dilation), "out_features": (1, limits.max_features),
              "bottleneck_width": (1, limits.max_channels)}
    for position, (name, value) in enumerate(values.items()):
        key = f"layer-{index}-{name}"
        column = columns[position % 3]
        label = FIELD_LABELS.get(name, name)
        common = dict(key=key, on_change=_field_changed, args=(index, name, key),
                      help=FIELD_HELP.get(name))
        if name == "bias":
            _controlled(key, bool(value))
            column.checkbox(label, **common)
        elif name in ("p", "negative_slope"):
            _controlled(key, float(value))
            high = 0.99 if name == "p" else 1.0
            column.number_input(label, 0.0, high, step=0.05 if name == "p" else 0.01,
                                format="%g", **common)
        else:
            low, high = ranges[name]
            _controlled(key, None if value is None else int(value))
            column.number_input(label, low, high, step=1, placeholder="basic block"
                                if name == "bottleneck_width" else None, **common)


# --- the architecture table ------------------------------------------------------------------

def _fx(*formulas: F.Formula | None, extra: str = "") -> str:
    """Each formula as a box: the general rule, then this network's numbers."""
    parts = []
    for formula in formulas:
        if formula is None:
            continue
        note = f"<br><span class='note'>{html.escape(formula.note)}</span>" if formula.note \
            else ""
        parts.append(f"<div class='pg-fx'><span class='gen'>{html.escape(formula.general)}"
                     f"</span><br>{html.escape(formula.filled)}{note}</div>")
    return "".join(parts) + extra


def _partial(model_spec: S.ModelSpec, upto: int) -> list[M.LayerInfo]:
    """The analysis of the layers before a broken one, so the table can show them.

    The parameter cap is lifted here (a cap error is about the total, and the layers
    before it are fine); shape errors cannot occur before the first one."""
    relaxed = dataclasses.replace(S.LIMITS, max_params=2**62)
    prefix = model_spec.replace(layers=model_spec.layers[:upto])
    try:
        analysis = M.analyze(prefix if upto < len(model_spec.layers) else model_spec, relaxed)
    except S.SpecError:
        return []
    return [info for info in analysis.layers if info.index < upto]


def _table(model_spec: S.ModelSpec, analysis: M.Analysis | None,
           error: S.SpecError | None) -> None:
    st.subheader("Shapes, parameters, receptive field")
    open_all = st.toggle("Show every formula", key="show_formulas",
                         help="Or click any underlined number to see how it is computed")
    if analysis is not None:
        infos = analysis.layers
    elif error is not None and error.layer_index is not None:
        infos = _partial(model_spec, error.layer_index)
    else:
        infos = []
    rows = [f"<tr><td></td><td>input</td><td class='num'>{F.shape_text(model_spec.input)}"
            "</td><td class='num'>0</td><td class='num'>1</td><td class='num'>1</td>"
            "<td class='num'>0</td></tr>"]
    explained = F.explain(M.Analysis(tuple(model_spec.input), infos))
    opened = " open" if open_all else ""
    for row in explained:
        info = row.info
        auto = " (auto)" if info.auto else ""
        layer_text = html.escape((layer_summary(info.layer) if not info.auto
                                  else NAMES[info.type]) + auto)
        rf = "-" if info.receptive_field is None else str(info.receptive_field)
        jump = "-" if info.jump is None else str(info.jump)
        numbers = [("out", "output size", F.shape_text(info.output_shape), row.output),
                   ("params", "parameters", f"{info.params:,}", [row.params]),
                   ("rf", "receptive field", rf,
                    [row.receptive_field] if info.receptive_field else []),
                   ("jump", "jump", jump, [row.jump] if info.jump else []),
                   ("macs", "multiply-adds per image", f"{info.macs:,}",
                    [row.macs] if info.macs else [])]
        cells = [f"<td>{info.index}</td>", f"<td class='name'>{layer_text}</td>"]
        boxes = []
        for name, label, text, shown in numbers:
            shown = [formula for formula in shown if formula is not None]
            if not shown:
                cells.append(f"<td class='num c-{name}'>{text}</td>")
                continue
            cells.append(f"<td class='num c-{name}'><details{opened}><summary>{text}"
                         "</summary></details></td>")
            box = f"<div class='pg-fx-label'>{label}</div>{_fx(*shown)}"
            if name == "params" and row.fully_connected is not None:  # parameter sharing
                box += ("<div class='pg-fx-label'>a fully-connected layer instead (same "
                        "input, same output)</div>" + _fx(row.fully_connected))
            boxes.append(f"<div class='fx-{name}'>{box}</div>")
        rows.append(f"<tr class='{'auto' if info.auto else ''}'>{''.join(cells)}</tr>")
        rows.append(f"<tr class='fx'><td></td><td colspan='6'><div class='pg-fxs'>"
                    f"{''.join(boxes)}</div></td></tr>")
    if error is not None and error.layer_index is not None:
        layers = model_spec.layers
        if error.layer_index >= len(layers):  # the automatic head
            rows.append(f"<tr class='bad'><td>{error.layer_index}</td><td>"
                        f"{NAMES.get(error.layer_type, error.layer_type)} (auto)</td>"
                        "<td colspan='5'>cannot work</td></tr>")
            rows.append(f"<tr class='bad-reason'><td></td><td colspan='6'>"
                        f"{html.escape(error.reason)}</td></tr>")
        for index in range(error.layer_index, len(layers)):
            text = html.escape(layer_summary(layers[index]))
            if index == error.layer_index:
                rows.append(f"<tr class='bad'><td>{index}</td><td>{text}</td>"
                            "<td colspan='5'>cannot work</td></tr>")
                rows.append(f"<tr class='bad-reason'><td></td><td colspan='6'>"
                            f"{html.escape(error.reason)}</td></tr>")
            else:
                rows.append(f"<tr class='later'><td>{index}</td><td>{text}</td>"
                            "<td colspan='5'>not computed</td></tr>")
    header = ("<tr><th>#</th><th>layer</th><th style='text-align:right'>output</th>"
              "<th style='text-align:right'>params</th>"
              "<th style='text-align:right' title='receptive field'>RF</th>"
              "<th style='text-align:right'>jump</th>"
              "<th style='text-align:right' title='multiply-adds per image'>MACs</th></tr>")
    st.html(f"<table class='pg-table'>{header}{''.join(rows)}</table>")
    if analysis is not None:
        _totals(model_spec, analysis, open_all)


def _totals(model_spec: S.ModelSpec, analysis: M.Analysis, open_all: bool) -> None:
    batch = S.resolve_training(model_spec.training).batch_size
    params, memory, macs = (F.total_params(analysis),
                            F.activation_memory(analysis, batch), F.total_macs(analysis))
    opened = " open" if open_all else ""
    boxes = [("Parameters", f"{params.value:,}", params),
             (f"Activations, one batch of {batch}", F.memory_text(memory.value), memory),
             ("Multiply-adds per image", f"{macs.value:,}", macs)]
    st.html("<div class='pg-totals'>" + "".join(
        f"<div class='pg-total'><div class='label'>{label}</div><details{opened}>"
        f"<summary>{value}</summary>{_fx(formula)}</details></div>"
        for label, value, formula in boxes) + "</div>")


# --- dataset fit, lesson settings, share and export -------------------------------------------

def _dataset_fit(model_spec: S.ModelSpec) -> None:
    dataset = S.resolve_training(model_spec.training).dataset
    if dataset not in KNOWN_SHAPES:
        return
    shape, classes = KNOWN_SHAPES[dataset]
    if tuple(model_spec.input) == tuple(shape) and model_spec.num_classes == classes:
        return
    st.warning(f"This lesson trains on **{dataset}** ({list(shape)} images, {classes} "
               f"classes) but the network takes {list(model_spec.input)} with "
               f"{model_spec.num_classes} classes.", icon=":material/warning:")
    st.button(f"Adapt the network to {dataset}", key="adapt", type="primary",
              on_click=adapt_to_dataset, args=(dataset,),
              help="Change the input shape and the class count; the layers stay")


def _lesson_settings(model_spec: S.ModelSpec) -> None:
    section = model_spec.training or S.TrainingSpec()
    config = S.resolve_training(section)
    with st.expander("Network and lesson settings: name, input, dataset, training, hidden "
                     "panels"):
        top = st.columns([2.5, 1, 1, 1, 1.2])
        key = _controlled("net-name", model_spec.name)
        top[0].text_input("Name", key=key, max_chars=S.LIMITS.max_name_chars,
                          on_change=_network_changed, args=("name", key))
        for column, axis, value, cap in zip(top[1:4], "CHW", model_spec.input,
                                            S.LIMITS.max_input):
            key = _controlled(f"net-{axis}", int(value))
            column.number_input({"C": "Input channels", "H": "Height", "W": "Width"}[axis],
                                1, cap, key=key, on_change=_network_changed,
                                args=(axis, key))
        key = _controlled("net-classes", model_spec.num_classes)
        top[4].number_input("Classes", 2, S.LIMITS.max_classes, key=key,
                            on_change=_network_changed, args=("num_classes", key))
        key = _controlled("net-description", model_spec.description)
        st.text_area("Description", key=key, max_chars=S.LIMITS.max_description_chars,
                     on_change=_network_changed, args=("description", key), height=68)
        row = st.columns(5)
        _choice(row[0], "Dataset", "dataset", DATASET_NAMES, config.dataset)
        _choice(row[1], "Optimizer", "optimizer", tuple(S.OPTIMIZER_LABELS), config.optimizer,
                S.OPTIMIZER_LABELS.get)
        _number(row[2], "Learning rate", "lr", config.lr, 1e-5, 10.0)
        _number(row[3], "Momentum (SGD)", "momentum", config.momentum, 0.0, 0.99)
        _number(row[4], "Weight decay", "weight_decay", config.weight_decay, 0.0, 1.0)
        row = st.columns(5)
        _number(row[0], "Batch size", "batch_size", config.batch_size, 1,
                S.LIMITS.max_batch_size)
        _number(row[1], "Epochs", "epochs", config.epochs, 1, S.LIMITS.max_epochs)
        _number(row[2], "Seed", "seed", config.seed, 0, 2**31 - 1)
        _choice(row[3], "LR schedule", "schedule", S.SCHEDULES, config.schedule)
        key = _controlled("lesson-augment", bool(config.augment))
        row[4].toggle("Augmentation", key=key, on_change=_training_changed,
                      args=("augment", key))
        options = list(dict.fromkeys([*_panel_names(), *config.hidden_panels]))
        key = _controlled("lesson-hidden_panels", list(config.hidden_panels))
        st.multiselect("Panels hidden in this lesson (lesson mode)", options, key=key,
                       on_change=_training_changed, args=("hidden_panels", key),
                       help="Saved with the lesson, so that a shared link opens with only "
                            "the panels the teacher wants")


def _panel_names() -> list[str]:
    names = []
    for module_name in ("train_page", "inspect_page"):
        try:
            module = __import__(f"playground.ui.{module_name}", fromlist=["PANELS"])
            names += list(getattr(module, "PANELS", ()))
        except Exception:  # a page being rewritten must not take this one down
            continue
    return names or list(DEFAULT_PANELS)


def _choice(column, label: str, name: str, options, value, format_func=str) -> None:
    key = _controlled(f"lesson-{name}", value if value in options else options[0])
    column.selectbox(label, options, key=key, format_func=format_func,
                     on_change=_training_changed, args=(name, key))


def _number(column, label: str, name: str, value, low, high) -> None:
    is_int = isinstance(low, int) and not isinstance(low, bool)
    key = _controlled(f"lesson-{name}", int(value) if is_int else float(value))
    column.number_input(label, low, high, key=key, format=None if is_int else "%g",
                        step=1 if is_int else None, on_change=_training_changed,
                        args=(name, key))


def _share_and_export(valid_spec: S.ModelSpec, analysis: M.Analysis | None,
                      invalid: bool) -> None:
    st.subheader("Share and export")
    if invalid:
        st.caption("The network being edited cannot work yet, so links and files below hold "
                   "the last valid network.")
    url = share.share_url(_app_url(), valid_spec)
    st.markdown("**Share link**: opens this network with its lesson settings (dataset, "
                "training settings, seed, hidden panels).")
    st.code(url, language=None, wrap_lines=True)
    columns = st.columns(4)
    columns[0].download_button("Download lesson (.json)", share.to_file_bytes(valid_spec),
                               file_name=share.file_name(valid_spec),
                               mime="application/json", icon=":material/download:",
                               key="download-lesson", width="stretch")
    if analysis is not None:
        columns[1].download_button("Download PyTorch code (.py)",
                                   M.export_python(valid_spec, analysis),
                                   file_name=share.file_name(valid_spec, ".py"),
                                   mime="text/x-python", icon=":material/code:",
                                   key="download-python", width="stretch")
    run = runs.current_run()
    if run is not None:
        trainer = run.trainer
        columns[2].download_button(
            "Download trained weights (.pt)", lambda: _weights_bytes(trainer),
            file_name=share.file_name(trainer.spec, ".pt"),
            mime="application/octet-stream", icon=":material/neurology:",
            key="download-weights", width="stretch",
            help=f"The state_dict of run #{run.number} ({trainer.spec.name}), loadable with "
                 "the .py file of that network")
        if trainer.spec != valid_spec:
            columns[2].caption(f"Weights of run #{run.number}, which trains "
                               f"**{trainer.spec.name}** as it was when the run started.")
    else:
        columns[2].caption("Train the network to download its weights (.pt) here.")
    columns[3].file_uploader(
        "Open a lesson or spec (.json)", type=["json"], max_upload_size=10,
        key=f"upload-{st.session_state.get(UPLOADS_KEY, 0)}", on_change=_uploaded,
        help="Up to 10 MB; checked like any spec before it replaces the network")


def _weights_bytes(trainer) -> bytes:
    _, state = trainer.latest_weights()
    return checkpoint.to_bytes(state)


def _app_url() -> str | None:
    try:
        return st.context.url or None
    except Exception:  # no browser context (headless tests)
        return None


def _sync_url(valid_spec: S.ModelSpec) -> None:
    """Keep the address bar a share link of the valid network, as TensorFlow Playground does."""
    value = share.encode(valid_spec)
    if st.query_params.get(share.PARAM) != value:
        st.query_params[share.PARAM] = value
    st.session_state[APPLIED_KEY] = value
