"""The Build page's network and lesson settings (name, input, dataset, training, hidden
panels), and the offer to adapt the network to the lesson's dataset."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from playground import spec as S
from playground.data.datasets import DATASET_NAMES, KNOWN_SHAPES
from playground.ui import uploaded
from playground.ui.build import state
from playground.ui.panels import INSPECT_PANELS, TRAIN_PANELS

AXIS_LABELS = {"C": "Input channels", "H": "Height", "W": "Width"}


def dataset_fit(model_spec: S.ModelSpec) -> None:
    """A warning and an Adapt button when the network does not take the dataset's images."""
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
              on_click=state.adapt_to_dataset, args=(dataset,),
              help="Change the input shape and the class count; the layers stay")


def lesson_settings(model_spec: S.ModelSpec) -> None:
    config = S.resolve_training(model_spec.training or S.TrainingSpec())
    with st.expander("Network and lesson settings: name, input, dataset, training, hidden "
                     "panels"):
        _network_fields(model_spec)
        _training_fields(config)
        options = list(dict.fromkeys([*TRAIN_PANELS, *INSPECT_PANELS,
                                      *config.hidden_panels]))
        key = state.controlled("lesson-hidden_panels", list(config.hidden_panels))
        st.multiselect("Panels hidden in this lesson (lesson mode)", options, key=key,
                       on_change=_training_changed, args=("hidden_panels", key),
                       help="Saved with the lesson, so that a shared link opens with only "
                            "the panels the teacher wants")


def _network_fields(model_spec: S.ModelSpec) -> None:
    top = st.columns([2.5, 1, 1, 1, 1.2])
    key = state.controlled("net-name", model_spec.name)
    top[0].text_input("Name", key=key, max_chars=S.LIMITS.max_name_chars,
                      on_change=_network_changed, args=("name", key))
    for column, axis, value, cap in zip(top[1:4], "CHW", model_spec.input,
                                        S.LIMITS.max_input):
        key = state.controlled(f"net-{axis}", int(value))
        column.number_input(AXIS_LABELS[axis], 1, cap, key=key, on_change=_network_changed,
                            args=(axis, key))
    key = state.controlled("net-classes", model_spec.num_classes)
    top[4].number_input("Classes", 2, S.LIMITS.max_classes, key=key,
                        on_change=_network_changed, args=("num_classes", key))
    key = state.controlled("net-description", model_spec.description)
    st.text_area("Description", key=key, max_chars=S.LIMITS.max_description_chars,
                 on_change=_network_changed, args=("description", key), height=68)


def _training_fields(config: S.TrainingConfig) -> None:
    row = st.columns(5)
    # The built-in sets, this session's uploads, and an upload the lesson names (the Train
    # page asks for that upload).
    lesson_upload = [config.dataset] if config.dataset.startswith("upload:") else []
    datasets = tuple(dict.fromkeys([*DATASET_NAMES, *uploaded.names(), *lesson_upload]))
    _choice(row[0], "Dataset", "dataset", datasets, config.dataset)
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
    key = state.controlled("lesson-augment", bool(config.augment))
    row[4].toggle("Augmentation", key=key, on_change=_training_changed,
                  args=("augment", key))


def _choice(column: DeltaGenerator, label: str, name: str, options: Sequence[str],
            value: str, format_func: Callable[[str], Any] = str) -> None:
    key = state.controlled(f"lesson-{name}", value if value in options else options[0])
    column.selectbox(label, options, key=key, format_func=format_func,
                     on_change=_training_changed, args=(name, key))


def _number(column: DeltaGenerator, label: str, name: str, value: float,
            low: float, high: float) -> None:
    is_int = isinstance(low, int) and not isinstance(low, bool)
    key = state.controlled(f"lesson-{name}", int(value) if is_int else float(value))
    column.number_input(label, low, high, key=key, format=None if is_int else "%g",
                        step=1 if is_int else None, on_change=_training_changed,
                        args=(name, key))


def _network_changed(name: str, key: str) -> None:
    state.set_network_field(name, st.session_state[key])


def _training_changed(name: str, key: str) -> None:
    state.set_training_field(name, st.session_state[key])
