"""Train page: settings, media-player controls, live curves, and panels that look closer.

Only widgets and layout live here; numbers come from the run's records (through the
executor), diagnostics and figure builders. The live part is one fragment that reruns twice
a second only while the run is training (or queued); otherwise a slow heartbeat tells the
registry the page is still open, and every state change redraws the whole page once.
"""
from __future__ import annotations

import dataclasses
import hashlib
import time

import numpy as np

import streamlit as st

from playground.analysis import diagnostics as Dg
from playground.analysis import inspection_view as V
from playground.figures import training as figures
from playground import spec as S
from playground.train import estimate
from playground.train import trainer as T
from playground.train.device import pick_device
from playground.data import preview, shared
from playground.data.datasets import DATASET_NAMES, KNOWN_SHAPES, DataError, Dataset
from playground.model import build as M
from playground.presets import load_preset, preset_names
from playground.runs import (KEEP_RUNS_PER_SESSION, RunLimitError, RunRecords, RunStatus,
                             RunSummary, UnknownRunError, run_label)
from playground.ui.build.layer_labels import in_page_words
from playground.ui.panels import TRAIN_PANELS as PANELS
from playground.data import uploads
from playground.ui import dataset_upload
from playground.ui import background
from playground.ui import live_records
from playground.ui import runs
from playground.ui import uploaded
from playground.ui import weights_upload
from playground.ui import session
from playground.ui import timing
from playground.ui import watching
from playground.ui.text import for_chart, plain

REFRESH_SECONDS = 0.5      # live panels while training
HEARTBEAT_SECONDS = 20.0   # "this page is still open" while nothing changes
WATCH_SECONDS = 2.0        # a watched run changes by another browser's hand: look often
GALLERY_SIZE = 24
DEAD_FILTER_IMAGES = 256
SCHEDULE_NAMES = {"constant": "constant", "onecycle": "one-cycle",
                  "linear": "warm-up + linear decay"}
DEVICES = ("auto", "cpu", "cuda")
SETTINGS_KEY = "settings-open"
LOAD_FIRST_KEY = "load-first"  # a Train or Step waiting for its dataset's first load
RECORDS_KEY = "live-records"   # the shown run's records read so far (live_records)
PRESSED_KEY = "train-pressed"  # when Train was pressed, until the first point is drawn
# Height of the line of messages over the curves (what the run is doing, how it ended,
# advice): fixed, so that a message coming or going never moves the curves.
MESSAGES_PX = 64
CONFUSION_PX = 520  # figures.confusion_matrix's height: reserved until it is drawn


def render() -> None:
    st.title("Train a CNN, live")
    st.caption("Pick a network and a dataset, press Train, and watch it learn. "
               "Curves, predictions and diagnostics refresh twice a second while it trains.")
    run = _current_status()
    runs.session_owner()
    watched = runs.is_watched(run)
    watching.copied_note()
    label = "Settings"
    if run is not None:
        config = run.config
        # The rate set by hand, not the schedule's of the moment: the title is the panel's
        # identity to Streamlit, and one that changed every step would reopen the panel.
        label = (f"Settings: {config.dataset}, {S.OPTIMIZER_LABELS[config.optimizer]} lr "
                 f"{run.lr_set:g}, batch {config.batch_size}, "
                 f"{config.epochs} epochs, {SCHEDULE_NAMES[config.schedule]} schedule, seed "
                 f"{config.seed}{', augmentation' if config.augment else ''} "
                 "(learning rate and augmentation can change while it trains)")
    if watched:  # another browser's run: its settings to read, nothing to change
        watching.banner(run, "train")
        st.caption(label)
        settings = None
    else:
        # Open until a run starts, so the curves fit on a projected screen; a click
        # reopens it.
        with st.expander(label, expanded=True, key=SETTINGS_KEY, on_change="rerun"):
            settings = _settings_form(run)
        dataset_upload.panel()
        _dataset_fit(settings)
        if not _is_active(run):
            _weights_panel(settings)
        if settings["augment"]:
            _augmentation_examples(settings["dataset"])
    # The controls sit outside the live fragment: a click on one is a full rerun, which
    # Streamlit restarts with the click when one is under way; a click in a fragment that
    # comes during a full rerun (a preset chosen, a training time being measured) is lost.
    _controls(settings, run)
    live = _is_live(run)
    st.session_state["page_live"] = live
    st.fragment(_live_panels, run_every=REFRESH_SECONDS if live else None)(settings)
    if run is not None and not live:
        st.fragment(_heartbeat,
                    run_every=WATCH_SECONDS if watched else HEARTBEAT_SECONDS)()


def _current_status() -> RunStatus | None:
    """The session's run as it is now (asking keeps the idle reaper away)."""
    run_id = runs.current_run_id()
    return runs.executor().status(run_id) if run_id else None


def _heartbeat() -> None:
    run_id = runs.current_run_id()  # touching the run keeps the idle reaper away
    run = runs.executor().status(run_id) if run_id else None
    if run is not None and runs.is_watched(run) and _is_live(run):
        st.rerun(scope="app")  # its owner started it again: follow it live


def _is_active(run: RunStatus | None) -> bool:
    """A run that holds the settings: training, paused mid-way, queued or stepping (not
    one that is stopping: a new run may start while it finishes its last step)."""
    return run is not None and not _is_stopping(run) and (
        run.queued or run.busy or run.state in (T.RUNNING, T.PAUSED))


def _is_stopping(run: RunStatus | None) -> bool:
    """Stopped (or reset) while its thread finishes the step it was in."""
    return run is not None and run.state == T.STOPPED and run.message == T.STOPPING


def _is_live(run: RunStatus | None) -> bool:
    """Something changes by itself: worth refreshing twice a second."""
    return run is not None and (run.queued or run.busy or _is_stopping(run))


# --- settings ------------------------------------------------------------------------------

def _settings_form(run: RunStatus | None) -> dict:
    locked = _is_active(run)
    model_spec = session.current_spec()
    section = model_spec.training or S.TrainingSpec()
    config = S.resolve_training(section)
    if run is not None and run.spec.name == model_spec.name:
        config = run.config  # a reload shows the settings the run was started with
    choices = DATASET_NAMES + uploaded.names()
    default_dataset = config.dataset if config.dataset in choices else "mnist"
    # Widget keys carry the spec's name so a newly loaded network shows its own settings.
    suffix = model_spec.name
    just_uploaded = dataset_upload.chosen_dataset()
    if just_uploaded in choices and not locked:
        st.session_state[f"dataset-{suffix}"] = just_uploaded
    top = st.columns([2.2, 1.6, 1.6, 1.3, 1.3, 1.0])
    top[0].selectbox("Load a preset network", preset_names(), index=None, disabled=locked,
                     placeholder=model_spec.name,
                     format_func=lambda name: load_preset(name).name, key="preset",
                     on_change=_load_chosen_preset)
    dataset = top[1].selectbox("Dataset", choices, disabled=locked,
                               index=choices.index(default_dataset),
                               key=f"dataset-{suffix}")
    if config.dataset not in choices and uploaded.find(config.dataset) is None \
            and config.dataset.startswith("upload:"):
        st.info(f"This lesson trains on your own images, **{plain(config.dataset)}**: upload "
                "that dataset under **Your own images** below to train on it.",
                icon=":material/upload:")
    if not dataset.startswith("upload:"):  # an upload is in memory already
        # Load the chosen dataset while the user reads the page (and while the training
        # time below is measured): the first Train finds it in memory, or waits for it.
        shared.preload(dataset)
    optimizer = top[2].selectbox("Optimizer", tuple(S.OPTIMIZER_LABELS), disabled=locked,
                                 index=tuple(S.OPTIMIZER_LABELS).index(config.optimizer),
                                 format_func=S.OPTIMIZER_LABELS.get, key=f"optimizer-{suffix}")
    lr = top[3].number_input("Learning rate", 1e-5, 10.0, float(config.lr), format="%g",
                             key=f"lr-{suffix}", on_change=_change_lr, args=(f"lr-{suffix}",),
                             help="Can be changed while training runs")
    schedule = top[4].selectbox("LR schedule", tuple(SCHEDULE_NAMES), disabled=locked,
                                index=tuple(SCHEDULE_NAMES).index(config.schedule),
                                format_func=SCHEDULE_NAMES.get, key=f"schedule-{suffix}")
    device = top[5].selectbox("Device", DEVICES, disabled=locked, key="device",
                              help="auto: the GPU when there is one, else the CPU")
    name = plain(model_spec.name)
    st.caption(f"**{name}**: {plain(model_spec.description)}" if model_spec.description
               else f"**{name}**")
    bottom = st.columns([1.3, 1.3, 1.3, 1.3, 2.0, 1.8])
    batch_size = bottom[0].number_input("Batch size", 1, S.LIMITS.max_batch_size,
                                        int(config.batch_size), disabled=locked,
                                        key=f"batch-{suffix}")
    epochs = bottom[1].number_input("Epochs", 1, S.LIMITS.max_epochs, config.epochs,
                                    disabled=locked, key=f"epochs-{suffix}")
    weight_decay = bottom[2].number_input("Weight decay", 0.0, 1.0, float(config.weight_decay),
                                          format="%g", disabled=locked, key=f"wd-{suffix}")
    seed = bottom[3].number_input("Seed", 0, 2**31 - 1, int(config.seed), disabled=locked,
                                  key=f"seed-{suffix}")
    augment = bottom[4].toggle("Augmentation", bool(config.augment), key=f"augment-{suffix}",
                               on_change=_change_augment, args=(f"augment-{suffix}",),
                               help="Random shifts (and flips for photos), drawn per image. "
                                    "Can be switched while training runs")
    bottom[5].markdown(f"Device in use  \n**{_device_in_use(run, device)}**")
    if not locked:
        _training_time(run, model_spec, dataset, device, int(batch_size), int(epochs),
                       bool(augment), optimizer)
    return {"spec": model_spec, "dataset": dataset, "optimizer": optimizer, "lr": float(lr),
            "schedule": schedule, "device": device, "batch_size": int(batch_size),
            "epochs": int(epochs), "weight_decay": float(weight_decay), "seed": int(seed),
            "augment": bool(augment)}


def _weights_panel(settings: dict) -> None:
    try:
        config = _config(settings)
    except (S.SpecError, ValueError):
        return
    with st.expander("Load trained weights from a file, to train on from them",
                     icon=":material/file_open:"):
        weights_upload.panel(config, "train")


def _dataset_fit(settings: dict) -> None:
    """An uploaded dataset the network does not take: say so, and offer to adapt the
    network's input and head (a new version of the spec, which Undo takes back)."""
    upload = uploaded.find(settings["dataset"])
    model_spec: S.ModelSpec = settings["spec"]
    if upload is None or (tuple(model_spec.input) == upload.input_shape
                          and model_spec.num_classes == len(upload.classes)):
        return
    st.warning(f"**{plain(upload.name)}** has {list(upload.input_shape)} images in "
               f"{len(upload.classes)} classes, but **{plain(model_spec.name)}** takes "
               f"{list(model_spec.input)} with {model_spec.num_classes} classes.",
               icon=":material/warning:")
    st.button(f"Adapt the network to {upload.name}", key="adapt-upload", type="primary",
              on_click=_adapt, args=(upload,),
              help="Change the input shape and the class count (the output layer); the "
                   "other layers stay. Undo on the Build page takes it back.")


def _adapt(upload: uploaded.SessionUpload) -> None:
    model_spec = session.current_spec()
    training = dataclasses.replace(model_spec.training or S.TrainingSpec(),
                                   dataset=upload.name)
    session.set_spec(model_spec.replace(input=upload.input_shape,
                                        num_classes=len(upload.classes), training=training))


def _training_time(run: RunStatus | None, model_spec: S.ModelSpec, dataset: str, device: str,
                   batch_size: int, epochs: int, augment: bool, optimizer: str) -> None:
    """The training time these settings need: the pace of this session's last run of the
    same network and batch, else a few steps timed now (once per network and batch)."""
    if dataset not in KNOWN_SHAPES:
        return
    shape, _ = KNOWN_SHAPES[dataset]
    try:
        target = pick_device(device)
        if (run is not None and run.step > 0 and run.train_seconds > 0
                and run.spec == model_spec and run.config.batch_size == batch_size
                and run.config.augment == augment and run.device == str(target)):
            step_seconds, source = run.train_seconds / run.step, "at your last run's pace"
        else:
            config = dataclasses.replace(
                S.resolve_training(model_spec.training), batch_size=batch_size,
                augment=augment, optimizer=optimizer)
            with st.spinner("Timing a few training steps of this network..."):
                step_seconds = estimate.seconds_per_step(model_spec, config, shape, dataset,
                                                         device)
            source = f"measured on this {'GPU' if target.type == 'cuda' else 'CPU'}"
    except (S.SpecError, RuntimeError, ValueError):
        return  # a network that cannot train here says why when Train is pressed
    seconds = estimate.training_seconds(step_seconds, _train_size(dataset), batch_size,
                                        epochs)
    st.caption(f"Training time: about **{estimate.describe_seconds(seconds)}** of training "
               f"for {epochs} epoch{'s' if epochs > 1 else ''} ({source}; the test "
               "evaluations come on top)")


def _train_size(dataset: str) -> int:
    """The training images of `dataset`: those loaded already (e.g. an embedded subset),
    else the full set's count."""
    loaded = shared.loaded(uploaded.data_name(dataset))
    return len(loaded.train_y) if loaded is not None else estimate.TRAIN_SIZES[dataset]


def _device_in_use(run: RunStatus | None, requested: str) -> str:
    if run is not None:
        return run.device
    try:
        return str(pick_device(requested))
    except (RuntimeError, ValueError):
        return "none: no CUDA GPU here"


def _load_chosen_preset() -> None:
    name = st.session_state.get("preset")
    if name:
        session.set_spec(load_preset(name))
        st.session_state["preset"] = None


def _change_lr(key: str) -> None:
    run = _current_status()
    if run is not None and run.state in (T.RUNNING, T.PAUSED, T.READY):
        runs.set_lr(run.run_id, float(st.session_state[key]))


def _change_augment(key: str) -> None:
    run_id = runs.current_run_id()
    if run_id is not None:
        runs.set_augment(run_id, bool(st.session_state[key]))


def _config(settings: dict) -> S.TrainingConfig:
    return S.resolve_training(
        settings["spec"].training, dataset=settings["dataset"],
        optimizer=settings["optimizer"], lr=settings["lr"], schedule=settings["schedule"],
        batch_size=settings["batch_size"], epochs=settings["epochs"],
        weight_decay=settings["weight_decay"], seed=settings["seed"],
        augment=settings["augment"])


def _augmentation_examples(dataset_name: str) -> None:
    # Drawn only while open: the examples need the dataset, and loading it inside every
    # full run of the page would hold that run (and any click made meanwhile) for seconds.
    examples = st.expander("What augmentation does: the same images, shifted (and flipped) "
                           "at random, a new draw every batch", expanded=False,
                           key="augment-examples-open", on_change="rerun")
    if not examples.open:
        return
    with examples:
        try:
            data = shared.dataset(uploaded.data_name(dataset_name))
        except (DataError, ValueError) as error:
            st.error(str(error))
            return
        draw = st.session_state.get("augment_draw", 0)
        captions = ["original"] * 8 + ["augmented"] * 8
        st.plotly_chart(figures.image_grid(preview.augmentation_examples(data, draw, 8),
                                           captions, columns=8, cell_px=100,
                                           style=session.figure_style()),
                        width="stretch", key="augment-examples")
        if st.button("Draw again", key="augment-again"):
            st.session_state["augment_draw"] = draw + 1
            st.rerun()


# --- commands ------------------------------------------------------------------------------

def _new_run(settings: dict) -> str | None:
    """A new run of the settings on screen, not started yet; its id, or None with the
    reason kept for the page to show."""
    model_spec: S.ModelSpec = settings["spec"]
    try:
        config = _config(settings)
        if config.dataset in KNOWN_SHAPES:  # say so before a slow load
            T.check_fits(model_spec, *KNOWN_SHAPES[config.dataset], config.dataset)
        _load_with_progress(config.dataset)  # a load that fails leaves the old run be
        return runs.start_run(model_spec, config, device=settings["device"], start=False)
    except (DataError, S.SpecError, RunLimitError, RuntimeError, ValueError) as error:
        st.session_state["train_error"] = in_page_words(str(error))
        return None


def _load_with_progress(dataset: str) -> None:
    """The first press on a fresh server loads (and may decode) the dataset, tens of
    seconds for CIFAR-10: a progress bar says what it is waiting for."""
    dataset = uploaded.data_name(dataset)
    if shared.loaded(dataset) is not None:
        return
    bar = st.progress(0.0, text=f"Loading {uploads.spec_name(dataset)} (once per server)...")

    def report(text: str, fraction: float) -> None:
        bar.progress(min(1.0, max(0.0, fraction)), text=f"{text} (once per server)")

    with shared.reporting_to(report):
        shared.dataset(dataset)
    bar.empty()


def _reusable(run: RunStatus | None, settings: dict) -> bool:
    """A reset run with the very settings on screen: train it instead of making a new one."""
    if run is None or runs.is_watched(run) or run.state != T.READY or run.step:
        return False
    try:
        config = _config(settings)
    except (S.SpecError, ValueError):
        return False
    return (run.spec == settings["spec"] and run.config == config)


def _close_settings() -> None:
    st.session_state[SETTINGS_KEY] = False


def _needs_load(settings: dict | None, run: RunStatus | None) -> bool:
    """A command that must load its dataset first: done in the page, not in the button's
    callback, where a progress bar cannot be drawn."""
    if settings is None or _reusable(run, settings):
        return False
    if run is not None and run.state not in T.ENDED and run.state != T.READY:
        return False
    try:
        return shared.loaded(uploaded.data_name(settings["dataset"])) is None
    except DataError:
        return False  # not uploaded: pressing Train says so


def _start(settings: dict | None, loaded: bool = False) -> None:
    if settings is None:  # a watcher's page has no settings of its own to train
        return
    if not loaded:  # a command from the page itself: the expander is drawn already
        _close_settings()
        st.session_state[PRESSED_KEY] = time.perf_counter()
    if not loaded and _needs_load(settings, _current_status()):
        st.session_state[LOAD_FIRST_KEY] = ("train", False)
        return
    run = _current_status()
    run_id = run.run_id if _reusable(run, settings) else _new_run(settings)
    if run_id is not None:
        runs.start(run_id)
        timing.note("train started", _since_press())


def _since_press() -> float:
    """Milliseconds since Train was pressed (for the timing log)."""
    return (time.perf_counter() - st.session_state.get(PRESSED_KEY, time.perf_counter())) * 1000


def _first_point_drawn(run: RunStatus, steps) -> None:
    """Log how long the first curve point took from the press, and the training in it."""
    if steps and PRESSED_KEY in st.session_state:
        timing.note("first point", _since_press(), step=run.step,
                    train_seconds=run.train_seconds, spec=run.spec.name)
        del st.session_state[PRESSED_KEY]


def _step(settings: dict | None, epoch: bool, loaded: bool = False) -> None:
    run = _current_status()
    if settings is None:  # a watcher's page: the executor refuses it, the page says why
        if run is not None:
            runs.step(run.run_id, epoch)
        return
    run_id = run.run_id if run is not None else None
    if run is None or run.state in T.ENDED:
        if not loaded and _needs_load(settings, run):
            st.session_state[LOAD_FIRST_KEY] = ("step", epoch)
            return
        run_id = _new_run(settings)
    if run_id is not None:
        runs.step(run_id, epoch)


def _controls(settings: dict | None, run: RunStatus | None) -> None:
    """Media-player buttons (all off for a watched run: `settings` is None). Callbacks
    run before the rerun, so every button's enabled state below already reflects the
    command just given."""
    state = run.state if run else None
    queued = bool(run and run.queued)
    busy = bool(run and run.busy)
    active = _is_active(run)
    run_id = run.run_id if run else ""
    can_step = not busy and not queued and state not in (T.RUNNING,)
    watched = settings is None
    buttons = st.columns(7)
    buttons[0].button("Train", type="primary", disabled=active or watched, width="stretch",
                      on_click=_start, args=(settings,), help="Start training from step 0")
    buttons[1].button("Pause", disabled=not (state == T.RUNNING or queued) or watched,
                      width="stretch", on_click=runs.pause, args=(run_id,))
    buttons[2].button("Resume", disabled=state != T.PAUSED or queued or busy or watched,
                      width="stretch", on_click=runs.start, args=(run_id,))
    buttons[3].button("Step", disabled=not can_step or watched, width="stretch",
                      help="Train one batch, then stay paused",
                      on_click=_step, args=(settings, False))
    buttons[4].button("Step epoch", disabled=not can_step or watched, width="stretch",
                      help="Train to the end of this epoch, then stay paused",
                      on_click=_step, args=(settings, True))
    buttons[5].button("Reset", disabled=run is None or watched, width="stretch",
                      help="Stop, keep the curves for comparison, and start again from "
                           "fresh weights drawn with the seed",
                      on_click=runs.reset, args=(run_id,))
    buttons[6].button("Stop", disabled=not active or watched, width="stretch",
                      on_click=runs.stop, args=(run_id,))
    for error in (st.session_state.pop("train_error", None), runs.pop_error()):
        if error:
            st.error(plain(error))
    _eviction_note()


def _eviction_note() -> None:
    """Say which of this session's saved runs the store deleted to stay within its bounds
    (the last few, for as long as the session lasts)."""
    notes = st.session_state.setdefault("evicted_runs", [])
    notes.extend(runs.executor().evictions(runs.session_owner()))
    del notes[:-3]
    if notes:
        st.info(f"To make room, the oldest of your saved runs were deleted: "
                f"{plain('; '.join(notes))}.")


# --- the live part ----------------------------------------------------------------------------

def _live_panels(settings: dict | None) -> None:
    run = _current_status()
    # The settings above are outside this fragment: redraw the whole page once when a run
    # starts or stops changing, so the settings lock and the refresh timer follows.
    if st.session_state.get("page_live") != _is_live(run):
        st.rerun(scope="app")
    with timing.timed("train refresh") as logged:
        records = _draw_live_panels(settings, run)
        if run is not None:
            logged.update(step=run.step, state=run.state,
                          points=len(records.steps) if records else 0,
                          batch=run.config.batch_size, train_seconds=run.train_seconds,
                          spec=run.spec.name)


def _load_then_command(settings: dict | None) -> None:
    """The Train or Step pressed before its dataset was loaded: load it here, with a
    progress bar, then give the command and redraw the page."""
    command, epoch = st.session_state.pop(LOAD_FIRST_KEY)
    if settings is None:
        return
    try:
        _load_with_progress(settings["dataset"])
    except (DataError, ValueError) as error:
        st.session_state["train_error"] = in_page_words(str(error))
        st.rerun(scope="app")
    if command == "train":
        _start(settings, loaded=True)
    else:
        _step(settings, epoch, loaded=True)
    st.rerun(scope="app")


def _draw_live_panels(settings: dict | None, run: RunStatus | None) -> RunRecords | None:
    if LOAD_FIRST_KEY in st.session_state:
        _load_then_command(settings)
    if run is None:
        st.info("Press **Train** to start, or **Step** to train one batch at a time. "
                "Nothing is trained yet.")
        _saved_runs(None)
        return None
    if run.dataset_note:
        st.warning(run.dataset_note)
    if run.origin:
        st.caption(f"Run #{run.number}: weights {plain(run.origin)}"
                   f"{', trained on since' if run.step else ''}.")
    records = _records(run)
    steps, evals, epochs = records.steps, records.evals, records.epochs
    _first_point_drawn(run, steps)
    _status(run, steps, evals)
    dead = _dead_filters(run, len(evals))
    with st.container(height=MESSAGES_PX, border=False, key="run-messages"):
        _messages(run, steps, evals)
        for advice in Dg.training_advice(steps, evals, epochs,
                                         num_classes=run.spec.num_classes, lr=run.lr,
                                         dead=dead or []):
            (st.error if advice.level == "error" else st.warning)(
                f"**{advice.title}.** {advice.text}")
    left, right = st.columns([3, 2])
    with left:
        by = st.segmented_control("Curves against", ["step", "epoch"], default="step",
                                  key="curve_axis") or "step"
        # Rebuilt only when a record came (every 20 steps), not at every refresh.
        style = session.figure_style()
        version = (run.number, by, style, len(steps), len(evals), len(epochs),
                   len(records.lr_changes), steps[-1].step if steps else 0)
        curves = _cached("curves", run, version, lambda: figures.training_curves(
            steps, evals, by=by, epoch_records=epochs, height=400,
            lr_changes=records.lr_changes, style=style))
        st.plotly_chart(curves, width="stretch", key="curves")
    with right:
        _first_kernels(run)
    shown = session.visible_panels(PANELS)
    if not shown:
        return records
    panel = st.segmented_control("Look closer", shown, default=shown[0], key="panel")
    if panel == "Confusion matrix":
        _confusion(run)
    elif panel == "Test images":
        _gallery(run)
    elif panel == "Diagnostics":
        _diagnostics(run, records, dead)
    elif panel == "Compare runs":
        _compare(run, records)
    return records


def _records(run: RunStatus) -> RunRecords:
    """Every record of the run so far: those this session read before, plus the new ones
    (a refresh reads only the steps since its last read)."""
    kept = live_records.refresh(st.session_state.get(RECORDS_KEY), run,
                                runs.executor().records)
    st.session_state[RECORDS_KEY] = kept
    return kept.records


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _status(run: RunStatus, steps, evals) -> None:
    latest = steps[-1] if steps else None
    test = evals[-1].test_acc if evals else None
    position = run.queue_position
    state = f"queued ({position[0]} of {position[1]})" if position else run.state
    if run.state == T.PAUSED and run.busy:
        state = "stepping" if run.pending_steps else "pausing"
    elif _is_stopping(run):
        state = T.STOPPING
    columns = st.columns([1.3, 0.8, 1.1, 1.1, 1.0, 1.5])
    columns[0].metric("State", state)
    columns[1].metric("Device", run.device)
    columns[2].metric("Epoch", f"{run.epoch:.2f} / {run.config.epochs}")
    columns[3].metric("Test accuracy", "-" if test is None else f"{test:.1%}")
    columns[4].metric("Images/s", "-" if latest is None else f"{latest.samples_per_s:,.0f}")
    remaining = run.remaining_seconds if run.state not in T.ENDED else None
    columns[5].metric("Trained / left", f"{_clock(run.train_seconds)} / {_clock(remaining)}",
                      help="Time spent in training steps so far, and the time the remaining "
                           "steps need at this pace")
    st.progress(min(1.0, run.step / run.total_steps),
                text=f"step {run.step:,} of {run.total_steps:,}")
    # Failures and interruptions say more than the fixed line of messages holds.
    if run.state == T.FAILED:
        st.error(run.message)
    elif run.state == T.INTERRUPTED:
        _interrupted(run)
    if run.from_store:
        st.caption("Opened from your saved runs: its curves and its weights as they were "
                   "saved. It also opens on the Inspect page.")


def _messages(run: RunStatus, steps, evals) -> None:
    """What the run waits for or how it ended, in the fixed-height line over the curves."""
    position = run.queue_position
    if position:
        st.info(f"Waiting for the {run.device_type.upper()}: number {position[0]} in line "
                "behind other sessions' training. It starts by itself when the device is "
                "free; Pause leaves the line.")
    if run.idle_note and run.state == T.PAUSED:
        st.info(run.idle_note)
    if run.state == T.FINISHED:
        st.success(_finished_text(run, evals))
    elif run.state == T.RUNNING and not position and (not steps or not evals):
        st.caption(_first_points_text(run, steps))


def _finished_text(run: RunStatus, evals) -> str:
    """What finished: e.g. "Finished 3 epochs: 98.4% test accuracy after 12.3 s of
    training"."""
    epochs = run.step / run.steps_per_epoch
    done = (f"{epochs:.0f} epoch{'s' if round(epochs) != 1 else ''}"
            if abs(epochs - round(epochs)) < 1e-9 else f"{epochs:.2f} epochs")
    accuracy = f"{evals[-1].test_acc:.1%} test accuracy" if evals else "no test accuracy"
    why = {"target reached": "Target accuracy reached after ",
           "time limit reached": "Time limit reached after "}.get(run.message, "Finished ")
    return (f"{why}{done}: {accuracy} after "
            f"{estimate.describe_seconds(run.train_seconds)} of training.")


def _first_points_text(run: RunStatus, steps) -> str:
    """Before the first points: what the curves wait for, so a slow start is explained."""
    every = runs.APP_RUN_OPTIONS.log_every
    evals = max(1, runs.APP_RUN_OPTIONS.evals_per_epoch)
    first_eval = max(1, round(run.steps_per_epoch / evals))
    if not steps:
        return (f"Training the first {every} batches: the loss and training accuracy get "
                f"a point every {every} steps, and the test accuracy its first one after "
                f"step {first_eval:,} (the first evaluation of the test set).")
    return (f"The test accuracy gets its first point after step {first_eval:,}, when the "
            f"test set is first evaluated ({evals} times per epoch).")


def _interrupted(run: RunStatus) -> None:
    done = run.step // run.steps_per_epoch
    left = max(1, run.config.epochs - done)
    st.warning(f"Interrupted: {run.message}; what it learnt after that is lost. Train on "
               f"from there ({left} more epoch{'s' if left > 1 else ''}), or press Train "
               "to start again.")
    st.button(f"Train on from epoch {done}", key="train-on", on_click=_train_on,
              help="A new run that starts from these weights, with the same settings, "
                   "for the epochs that were left (the optimizer starts afresh)")


def _train_on() -> None:
    run = _current_status()
    if run is None or run.state != T.INTERRUPTED:
        return
    _close_settings()
    done = run.step // run.steps_per_epoch
    config = dataclasses.replace(run.config, epochs=max(1, run.config.epochs - done))
    try:
        _, weights = runs.executor().latest_weights(run.run_id)
        # The stored run's own data (an upload's content), whatever this session uploaded.
        data_name = runs.executor().dataset_info(run.run_id).name
        runs.start_run(run.spec, config, device=st.session_state.get("device", "auto"),
                       initial_weights=weights, data_name=data_name)
    except (DataError, S.SpecError, RunLimitError, RuntimeError, ValueError,
            UnknownRunError) as error:
        st.session_state["train_error"] = str(error)


def _analysis(run: RunStatus) -> M.Analysis:
    """The layers of the run's network (its spec never changes while the run lives)."""
    return _cached("analysis", run, 0, lambda: M.analyze(run.spec))


def _first_kernels(run: RunStatus) -> None:
    conv = next((info for info in _analysis(run).layers if info.type == "conv"), None)
    if conv is None:
        st.caption("This network has no conv layer at the top level, so there are no "
                   "first-layer kernels to show.")
        return
    step, weights = runs.executor().weight(run.run_id, f"{conv.index}.weight")
    weights = weights.numpy()
    out_channels, in_channels, kernel_h, kernel_w = weights.shape
    title = (f"Layer {conv.index} kernels at step {step} ({out_channels} x {in_channels}, "
             f"{kernel_h}x{kernel_w})")
    style = session.figure_style()
    kernels = _cached("first-kernels", run, (run.number, step, style),
                      lambda: figures.first_layer_kernels(weights, title=title, height=460,
                                                          style=style))
    st.plotly_chart(kernels, width="stretch", key="kernels",
                    config={"displayModeBar": False})  # it would cover the title
    if in_channels == 3:
        st.caption("Each kernel as one colour picture of its red, green and blue weights: "
                   "grey is zero, a colour is what the kernel looks for.")


# --- looking closer --------------------------------------------------------------------------

def _cached(name: str, run: RunStatus, version, compute):
    """Per-session cache of one value per run, recomputed when `version` changes."""
    return session.cached(name, (run.run_id, version), compute)


def _test_set(run: RunStatus) -> Dataset:
    """The run's dataset, from the process-wide cache (the run reads the same copy); the
    session keeps hold of it for as long as it shows this run."""
    return _cached("test-set", run, 0,
                   lambda: shared.dataset(runs.executor().dataset_info(run.run_id).name))


def _predictions(run: RunStatus) -> Dg.TestPredictions | None:
    """The newer of the run's latest-evaluation predictions and an on-demand update."""
    from_run = runs.executor().test_predictions(run.run_id)
    on_demand = st.session_state.get("predictions-now")
    if on_demand and on_demand[0] == run.run_id and (
            from_run is None or on_demand[1].step > from_run.step):
        return on_demand[1]
    return from_run


def _update_predictions() -> None:
    run = _current_status()
    if run is None:
        return
    step, state = runs.executor().latest_weights(run.run_id)
    st.session_state["predictions-now"] = (
        run.run_id, V.predict_test_set(run.spec, state, _test_set(run), step=step,
                                       epoch=step / run.steps_per_epoch,
                                       analysis=_analysis(run)))


def _prediction_header(run: RunStatus, predictions: Dg.TestPredictions | None) -> bool:
    columns = st.columns([4, 1])
    if predictions is None:
        columns[0].caption("No predictions yet: they come with the first test evaluation "
                           "(four per epoch).")
    else:
        columns[0].caption(f"Test set predictions at step {predictions.step:,} "
                           f"(epoch {predictions.epoch:.2f}); refreshed at every test "
                           "evaluation, four per epoch.")
    columns[1].button("Update now", key="predict-now", on_click=_update_predictions,
                      width="stretch",
                      help="Predict the test set with the weights of this very moment")
    return predictions is not None


def _confusion(run: RunStatus) -> None:
    predictions = _predictions(run)
    if not _prediction_header(run, predictions):
        # The matrix's room, kept from the start: its arrival must not grow the page.
        st.container(height=CONFUSION_PX, border=False, key="confusion-room")
        return

    # Read here, in the page's thread: the figure is built off the refresh.
    data, num_classes, style = _test_set(run), run.spec.num_classes, session.figure_style()

    def figure():  # changes only with the predictions: once per evaluation
        matrix = Dg.confusion_matrix(predictions.predicted, data.test_y, num_classes)
        accuracy = np.trace(matrix) / max(matrix.sum(), 1)
        return figures.confusion_matrix(
            matrix, data.classes,
            title=f"{accuracy:.1%} of {matrix.sum():,} test images right", style=style)

    version = (predictions.step, id(predictions), style)
    matrix, _ = background.latest("confusion", (run.run_id, run.number), version, figure,
                                  wait=not _is_live(run))
    if matrix is None:  # the first one, on its way
        st.container(height=CONFUSION_PX, border=False, key="confusion-room")
        return
    st.plotly_chart(matrix, width="stretch", key="confusion")


def _gallery(run: RunStatus) -> None:
    predictions = _predictions(run)
    if not _prediction_header(run, predictions):
        return
    data = _test_set(run)
    classes = data.classes
    filters = st.columns([1, 2, 3])
    mistakes = filters[0].toggle("Only mistakes", key="gallery-mistakes")
    chosen = filters[1].selectbox("True class", ["all classes", *classes], key="gallery-class")
    labels = data.test_y.numpy()
    predicted = predictions.predicted.numpy()
    indices = Dg.gallery_indices(
        predicted, labels, mistakes_only=mistakes,
        true_class=None if chosen == "all classes" else classes.index(chosen),
        limit=GALLERY_SIZE)
    wrong = int((predicted != labels).sum())
    filters[2].markdown(f"**{wrong:,}** of {len(labels):,} test images wrong")
    if not indices:
        st.info("No test image matches these filters.")
        return
    images = preview.test_images(data, indices)
    captions, colors = [], []
    for index in indices:
        top = predictions.top_classes[index].tolist()
        probs = predictions.top_probs[index].tolist()
        lines = [f"<b>true {for_chart(classes[labels[index]])}</b>"]
        lines += [f"{for_chart(classes[c])} {p:.0%}" for c, p in zip(top, probs)]
        captions.append("<br>".join(lines))
        colors.append("#1a7f37" if top[0] == labels[index] else "#c62828")
    long_names = max(len(c) for c in classes) > 6
    st.plotly_chart(figures.image_grid(images, captions, columns=6 if long_names else 8,
                                       caption_colors=colors, caption_lines=4,
                                       cell_px=120 if long_names else 100,
                                       style=session.figure_style()),
                    width="stretch", key="gallery")
    st.caption("Green: the top guess is right. Red: a mistake. Each image lists the true "
               "class, then the network's three most likely classes.")


def _layer_names(analysis: M.Analysis) -> dict[int, str]:
    return {info.index: f"{info.index} {info.type}{' (auto)' if info.auto else ''}"
            for info in analysis.layers}


def _dead_filters(run: RunStatus, version: int) -> list[Dg.DeadFilters] | None:
    """Dead filters on the first test images, on a copy of the weights, once per evaluation;
    counted in the background while the page refreshes by itself (None until the first
    count is done: a forward pass would make that refresh the slowest of the epoch)."""
    analysis = _analysis(run)
    if not any(info.type == "conv" for info in analysis.layers):
        return []
    # Read here, in the page's thread: the work must not touch the session.
    executor, data, run_id, model_spec = runs.executor(), _test_set(run), run.run_id, run.spec

    def compute():
        _, state = executor.latest_weights(run_id)
        return V.dead_filters(model_spec, state, data, DEAD_FILTER_IMAGES, analysis)

    dead, _ = background.latest("dead", (run.run_id, run.number), (version, run.step == 0),
                                compute, wait=not _is_live(run))
    return dead


def _diagnostics(run: RunStatus, records: RunRecords,
                 dead: list[Dg.DeadFilters] | None) -> None:
    norms = records.norms
    st.markdown("**Weight and gradient norms per layer.** Gradients that shrink to almost "
                "nothing in the first layers mean those layers stop learning; norms that "
                "shoot up mean the learning rate is too high.")
    if norms:
        st.plotly_chart(figures.norm_curves(norms, _layer_names(_analysis(run)),
                                            style=session.figure_style()),
                        width="stretch", key="norms")
    else:
        st.caption("Norms appear after the first few training steps.")
    st.markdown(f"**Dead filters**: filters whose ReLU output is zero for every one of the "
                f"first {DEAD_FILTER_IMAGES} test images. They get no gradient, so they "
                "never learn again.")
    if dead is None:
        st.caption("Counting dead filters on the latest weights...")
    elif dead:
        st.plotly_chart(figures.dead_filter_bars(
            [(f"layer {d.conv_index}", d.dead, d.total) for d in dead],
            style=session.figure_style()),
            width="stretch", key="dead")
    else:
        st.caption("No conv layer followed by a ReLU in this network.")


def _compare(run: RunStatus, records: RunRecords) -> None:
    # A watcher sees the run it watches, never the history of the browser that made it.
    history = [] if runs.is_watched(run) else [
        s for s in runs.executor().history(runs.session_owner())
        if s.run_id != run.run_id or s.number != run.number]
    current = RunSummary(run.run_id, run.number, run.spec, run.config, run.device,
                         records.steps, records.evals, records.epochs, run.state,
                         records.lr_changes)
    entries = [(f"{run_label(run.number, current.spec, current.config)} (this run)",
                current.steps, current.evals)]
    entries += [(s.label, s.steps, s.evals) for s in reversed(history)]
    entries = [(for_chart(label), steps, evals) for label, steps, evals in entries]
    if not history:
        st.info("Runs you finish, stop or reset stay here (the last "
                f"{KEEP_RUNS_PER_SESSION}, also after the server restarts), so you can "
                "change one thing, e.g. 3x3 vs 5x5 kernels or SGD vs Adam, train again and "
                "compare the curves.")
    st.plotly_chart(figures.compare_curves(entries, style=session.figure_style()),
                    width="stretch", key="compare")
    rows = [_summary_row(current, "this run")] + [_summary_row(s, "") for s in reversed(history)]
    st.dataframe(rows, hide_index=True, width="stretch")
    _saved_runs(run)


def _saved_runs(run: RunStatus | None) -> None:
    """Open one of this session's saved runs again: its curves here, its weights on the
    Inspect page, and training on from it when it was interrupted."""
    saved = [s for s in reversed(runs.executor().history(runs.session_owner()))
             if run is None or (s.run_id, s.number) != (run.run_id, run.number)]
    if not saved:
        return
    names = {f"{s.run_id}#{s.number}": s for s in saved}
    # The key follows the list, so a list that changed never keeps a choice that is gone.
    version = hashlib.sha1("".join(names).encode()).hexdigest()[:8]
    columns = st.columns([4, 1])
    choice = columns[0].selectbox(
        "Open a saved run", list(names), key=f"saved-run-{version}",
        format_func=lambda name: f"{names[name].label} ({names[name].state})")
    columns[1].button("Open", key="open-saved", disabled=_is_active(run), width="stretch",
                      on_click=_open_saved, args=(names[choice].run_id, names[choice].number),
                      help="Stop the run shown now first" if _is_active(run) else
                           "Show this run's curves, and its weights on the Inspect page")


def _open_saved(run_id: str, number: int) -> None:
    try:
        opened = runs.open_stored(run_id, number)
    except (DataError, RuntimeError, ValueError) as error:
        st.session_state["train_error"] = f"This saved run cannot be opened: {error}"
        return
    if opened is None:
        st.session_state["train_error"] = "This saved run is no longer kept."
        return
    status = runs.executor().status(opened)
    if status is not None:
        session.set_spec(status.spec)  # Train and Build go on with its network


def _summary_row(summary: RunSummary, note: str) -> dict:
    config = summary.config
    return {"run": f"#{summary.number} {note}".strip(), "network": summary.spec.name,
            "layers": _outline(summary.spec), "dataset": config.dataset,
            "optimizer": S.OPTIMIZER_LABELS[config.optimizer], "lr": _lr_text(summary),
            "batch": config.batch_size, "augment": "yes" if config.augment else "no",
            "steps": summary.steps[-1].step if summary.steps else 0,
            "test accuracy": f"{summary.test_acc:.1%}" if summary.test_acc is not None
            else "-"}


def _lr_text(summary: RunSummary) -> str:
    """The starting rate, then each one set while it trained: "0.01, 0.001 at step 120"."""
    changes = [f"{change.lr:g} at step {change.step:,}" for change in summary.lr_changes]
    return ", ".join([f"{summary.config.lr:g}", *changes])


def _outline(model_spec: S.ModelSpec) -> str:
    parts = []
    for layer in model_spec.layers:
        if layer.TYPE == "conv":
            parts.append(f"conv{layer.kernel_size}x{layer.kernel_size}x{layer.out_channels}")
        elif layer.TYPE == "residual":
            parts.append(f"res{layer.out_channels}")
        elif layer.TYPE == "linear":
            parts.append(f"fc{layer.out_features}")
    return " ".join(parts)
