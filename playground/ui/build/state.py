"""The network being edited on the Build page, and every edit to it.

Edits that make an impossible network are kept as a draft beside the last valid spec, so
the Train page never sees an invalid network: `session.current_spec()` is always valid,
the draft lives under DRAFT_KEY together with the valid spec it started from, and the
offending layer shows red with the reason until it is fixed or undone. Every edit goes
through `commit`, which records it in the session's edit history.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st

from playground import spec as S
from playground.data.datasets import KNOWN_SHAPES
from playground.model import build as M
from playground.ui import session

DRAFT_KEY = "build_draft"        # (valid spec it started from, invalid draft)
VERSION_KEY = "build_version"    # bumped on every change: remounts the drag list
MESSAGE_KEY = "build_message"    # (kind, text) shown once on the next run

NEW_LAYER_FIELDS = {"conv": dict(out_channels=8, kernel_size=3, padding=1),
                    "maxpool": dict(kernel_size=2), "avgpool": dict(kernel_size=2),
                    "linear": dict(out_features=64), "residual": dict(out_channels=16)}


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
    """Make `model_spec` the network being edited; the previous one can be undone to."""
    old = draft()
    if model_spec == old:
        return
    session.edit_history().record(old)
    _store(model_spec)


def undo() -> None:
    previous = session.edit_history().undo(draft())
    if previous is not None:
        _store(previous)


def redo() -> None:
    undone = session.edit_history().redo(draft())
    if undone is not None:
        _store(undone)


def message(kind: str, text: str) -> None:
    """Show `text` with st.<kind> (error, success) once, on the next run of the page."""
    st.session_state[MESSAGE_KEY] = (kind, text)


def pop_message() -> tuple[str, str] | None:
    return st.session_state.pop(MESSAGE_KEY, None)


def controlled(key: str, value: Any) -> str:
    """Set a widget's state from the spec before it is drawn (the spec is the truth)."""
    st.session_state[key] = value
    return key


# --- layer edits ----------------------------------------------------------------------------

def _with_layers(layers: list[S.Layer]) -> None:
    commit(draft().replace(layers=layers))


def _too_many_layers(layers: list[S.Layer], adding: int = 1) -> bool:
    if len(layers) + adding <= S.LIMITS.max_layers:
        return False
    message("error", f"A network has at most {S.LIMITS.max_layers} layers.")
    return True


def add_layer(layer_type: str, position: int | None = None) -> None:
    layers = list(draft().layers)
    if _too_many_layers(layers):
        return
    position = len(layers) if position is None else max(0, min(position, len(layers)))
    layers.insert(position, S.make_layer(layer_type, **NEW_LAYER_FIELDS.get(layer_type, {})))
    _with_layers(layers)


def move_layer(index: int, offset: int) -> None:
    layers = list(draft().layers)
    target = index + offset
    if 0 <= index < len(layers) and 0 <= target < len(layers):
        layers[index], layers[target] = layers[target], layers[index]
        _with_layers(layers)


def duplicate_layer(index: int) -> None:
    layers = list(draft().layers)
    if _too_many_layers(layers):
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


def arrange_layers(arrangement: list[int | str]) -> None:
    """The network after a drop on the drag strip: each entry is an existing layer (its old
    index) or a layer type dragged in from the palette, which becomes a new layer there."""
    layers = list(draft().layers)
    added = sum(isinstance(entry, str) for entry in arrangement)
    if added and _too_many_layers(layers, added):
        return
    _with_layers([S.make_layer(entry, **NEW_LAYER_FIELDS.get(entry, {}))
                  if isinstance(entry, str) else layers[entry] for entry in arrangement])


def set_field(index: int, name: str, value: Any) -> None:
    layers = list(draft().layers)
    layer = layers[index]
    changes = {name: value}
    # a pool's stride follows its kernel while it has the default (stride = kernel)
    if name == "kernel_size" and layer.TYPE in ("maxpool", "avgpool") \
            and layer.stride == layer.kernel_size:
        changes["stride"] = value
    layers[index] = dataclasses.replace(layer, **changes)
    _with_layers(layers)


# --- network and lesson edits -----------------------------------------------------------------

def set_network_field(name: str, value: Any) -> None:
    """Change the name, description, class count or one input axis ("C", "H" or "W")."""
    model_spec = draft()
    if name in ("C", "H", "W"):
        shape = list(model_spec.input)
        shape["CHW".index(name)] = int(value)
        commit(model_spec.replace(input=tuple(shape)))
    elif name == "num_classes":
        commit(model_spec.replace(num_classes=int(value)))
    else:
        commit(model_spec.replace(**{name: value}))


def set_training_field(name: str, value: Any) -> None:
    """Change one of the lesson's training settings (a widget's value, converted)."""
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
    message("success", f"Adapted the network to {dataset}: input {list(shape)}, "
                       f"{classes} classes.")
