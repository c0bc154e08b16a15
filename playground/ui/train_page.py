"""Train page: settings, media-player controls, live curves, and panels that look closer.

Only widgets and layout live here; numbers come from the run's records (through the
executor), diagnostics and figure builders. The live part is one fragment that reruns twice
a second only while the run is training (or queued); otherwise a slow heartbeat tells the
registry the page is still open, and every state change redraws the whole page once.
"""
from __future__ import annotations

import numpy as np

import streamlit as st

from playground.analysis import diagnostics as Dg
from playground.analysis import inspection_view as V
from playground.figures import training as figures
from playground import spec as S
from playground.train import trainer as T
from playground.train.device import pick_device
from playground.data import preview, shared
from playground.data.datasets import DATASET_NAMES, KNOWN_SHAPES, DataError, Dataset
from playground.model import build as M
from playground.presets import load_preset, preset_names
from playground.runs import (KEEP_RUNS_PER_SESSION, RunLimitError, RunRecords, RunStatus,
                             RunSummary, run_label)
from playground.ui.panels import TRAIN_PANELS as PANELS
from playground.ui import runs
from playground.ui import session
from playground.ui import timing

REFRESH_SECONDS = 0.5      # live panels while training
HEARTBEAT_SECONDS = 20.0   # "this page is still open" while nothing changes
GALLERY_SIZE = 24
DEAD_FILTER_IMAGES = 256
SCHEDULE_NAMES = {"constant": "constant", "onecycle": "one-cycle"}
DEVICES = ("auto", "cpu", "cuda")
SETTINGS_KEY = "settings-open"


def render() -> None:
    st.title("Train a CNN, live")
    st.caption("Pick a network and a dataset, press Train, and watch it learn. "
               "Curves, predictions and diagnostics refresh twice a second while it trains.")
    run = _current_status()
    runs.session_owner()
    label = "Settings"
    if run is not None:
        config = run.config
        label = (f"Settings: {config.dataset}, {S.OPTIMIZER_LABELS[config.optimizer]} lr "
                 f"{run.lr:.2g}, batch {config.batch_size}, "
                 f"{config.epochs} epochs, {SCHEDULE_NAMES[config.schedule]} schedule, seed "
                 f"{config.seed}{', augmentation' if config.augment else ''} "
                 "(learning rate and augmentation can change while it trains)")
    # Open until a run starts, so the curves fit on a projected screen; a click reopens it.
    with st.expander(label, expanded=True, key=SETTINGS_KEY, on_change="rerun"):
        settings = _settings_form(run)
    if settings["augment"]:
        _augmentation_examples(settings["dataset"])
    live = _is_live(run)
    st.session_state["page_live"] = live
    st.fragment(_live_panels, run_every=REFRESH_SECONDS if live else None)(settings)
    if run is not None and not live:
        st.fragment(_heartbeat, run_every=HEARTBEAT_SECONDS)()


def _current_status() -> RunStatus | None:
    """The session's run as it is now (asking keeps the idle reaper away)."""
    run_id = runs.current_run_id()
    return runs.executor().status(run_id) if run_id else None


def _heartbeat() -> None:
    runs.current_run_id()  # touching the run keeps the idle reaper away


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
    default_dataset = config.dataset if config.dataset in DATASET_NAMES else "mnist"
    # Widget keys carry the spec's name so a newly loaded network shows its own settings.
    suffix = model_spec.name
    top = st.columns([2.2, 1.6, 1.6, 1.3, 1.3, 1.0])
    top[0].selectbox("Load a preset network", preset_names(), index=None, disabled=locked,
                     placeholder=model_spec.name,
                     format_func=lambda name: load_preset(name).name, key="preset",
                     on_change=_load_chosen_preset)
    dataset = top[1].selectbox("Dataset", DATASET_NAMES, disabled=locked,
                               index=DATASET_NAMES.index(default_dataset),
                               key=f"dataset-{suffix}")
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
    st.caption(f"**{model_spec.name}**: {model_spec.description}" if model_spec.description
               else f"**{model_spec.name}**")
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
    return {"spec": model_spec, "dataset": dataset, "optimizer": optimizer, "lr": float(lr),
            "schedule": schedule, "device": device, "batch_size": int(batch_size),
            "epochs": int(epochs), "weight_decay": float(weight_decay), "seed": int(seed),
            "augment": bool(augment)}


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
        runs.executor().set_lr(run.run_id, float(st.session_state[key]))


def _change_augment(key: str) -> None:
    run_id = runs.current_run_id()
    if run_id is not None:
        runs.executor().set_augment(run_id, bool(st.session_state[key]))


def _config(settings: dict) -> S.TrainingConfig:
    return S.resolve_training(
        settings["spec"].training, dataset=settings["dataset"],
        optimizer=settings["optimizer"], lr=settings["lr"], schedule=settings["schedule"],
        batch_size=settings["batch_size"], epochs=settings["epochs"],
        weight_decay=settings["weight_decay"], seed=settings["seed"],
        augment=settings["augment"])


def _augmentation_examples(dataset_name: str) -> None:
    with st.expander("What augmentation does: the same images, shifted (and flipped) at "
                     "random, a new draw every batch", expanded=False):
        try:
            data = shared.dataset(dataset_name)
        except (DataError, ValueError) as error:
            st.error(str(error))
            return
        draw = st.session_state.get("augment_draw", 0)
        captions = ["original"] * 8 + ["augmented"] * 8
        st.plotly_chart(figures.image_grid(preview.augmentation_examples(data, draw, 8),
                                           captions, columns=8, cell_px=100),
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
        with st.spinner(f"Loading {config.dataset}..."):
            shared.dataset(config.dataset)  # a load that fails leaves the old run be
        return runs.start_run(model_spec, config, device=settings["device"], start=False)
    except (DataError, S.SpecError, RunLimitError, RuntimeError, ValueError) as error:
        st.session_state["train_error"] = str(error)
        return None


def _reusable(run: RunStatus | None, settings: dict) -> bool:
    """A reset run with the very settings on screen: train it instead of making a new one."""
    if run is None or run.state != T.READY or run.step:
        return False
    try:
        config = _config(settings)
    except (S.SpecError, ValueError):
        return False
    return (run.spec == settings["spec"] and run.config == config)


def _close_settings() -> None:
    st.session_state[SETTINGS_KEY] = False


def _start(settings: dict) -> None:
    _close_settings()
    run = _current_status()
    run_id = run.run_id if _reusable(run, settings) else _new_run(settings)
    if run_id is not None:
        runs.executor().start(run_id)


def _step(settings: dict, epoch: bool) -> None:
    run = _current_status()
    run_id = run.run_id if run is not None else None
    if run is None or run.state in (T.FINISHED, T.STOPPED, T.FAILED):
        run_id = _new_run(settings)
    if run_id is not None:
        runs.executor().step_epoch(run_id) if epoch else runs.executor().step(run_id)


def _controls(settings: dict, run: RunStatus | None) -> None:
    """Media-player buttons. Callbacks run before the rerun, so every button's enabled
    state below already reflects the command just given."""
    state = run.state if run else None
    queued = bool(run and run.queued)
    busy = bool(run and run.busy)
    active = _is_active(run)
    executor = runs.executor()
    run_id = run.run_id if run else ""
    can_step = not busy and not queued and state not in (T.RUNNING,)
    buttons = st.columns(7)
    buttons[0].button("Train", type="primary", disabled=active, width="stretch",
                      on_click=_start, args=(settings,), help="Start training from step 0")
    buttons[1].button("Pause", disabled=not (state == T.RUNNING or queued),
                      width="stretch", on_click=executor.pause, args=(run_id,))
    buttons[2].button("Resume", disabled=state != T.PAUSED or queued or busy,
                      width="stretch", on_click=executor.start,
                      args=(run_id,))
    buttons[3].button("Step", disabled=not can_step, width="stretch",
                      help="Train one batch, then stay paused",
                      on_click=_step, args=(settings, False))
    buttons[4].button("Step epoch", disabled=not can_step, width="stretch",
                      help="Train to the end of this epoch, then stay paused",
                      on_click=_step, args=(settings, True))
    buttons[5].button("Reset", disabled=run is None, width="stretch",
                      help="Stop, keep the curves for comparison, and start again from "
                           "fresh weights drawn with the seed",
                      on_click=executor.reset, args=(run_id,))
    buttons[6].button("Stop", disabled=not active, width="stretch",
                      on_click=executor.stop, args=(run_id,))
    error = st.session_state.pop("train_error", None)
    if error:
        st.error(error)


# --- the live part ----------------------------------------------------------------------------

def _live_panels(settings: dict) -> None:
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


def _draw_live_panels(settings: dict, run: RunStatus | None) -> RunRecords | None:
    _controls(settings, run)
    if run is None:
        st.info("Press **Train** to start, or **Step** to train one batch at a time. "
                "Nothing is trained yet.")
        return None
    if run.dataset_note:
        st.warning(run.dataset_note)
    records = runs.executor().records(run.run_id)
    steps, evals, epochs = records.steps, records.evals, records.epochs
    _status(run, steps, evals)
    dead = _dead_filters(run, len(evals))
    for advice in Dg.training_advice(steps, evals, epochs, num_classes=run.spec.num_classes,
                                     lr=run.lr, dead=dead):
        (st.error if advice.level == "error" else st.warning)(
            f"**{advice.title}.** {advice.text}")
    left, right = st.columns([3, 2])
    with left:
        by = st.segmented_control("Curves against", ["step", "epoch"], default="step",
                                  key="curve_axis") or "step"
        st.plotly_chart(figures.training_curves(steps, evals, by=by, epoch_records=epochs,
                                                height=400),
                        width="stretch", key="curves")
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
    remaining = run.remaining_seconds if run.state not in (
        T.FINISHED, T.STOPPED, T.FAILED) else None
    columns[5].metric("Trained / left", f"{_clock(run.train_seconds)} / {_clock(remaining)}",
                      help="Time spent in training steps so far, and the time the remaining "
                           "steps need at this pace")
    st.progress(min(1.0, run.step / run.total_steps),
                text=f"step {run.step:,} of {run.total_steps:,}")
    if position:
        st.info(f"Waiting for the {run.device_type.upper()}: number {position[0]} in line "
                "behind other sessions' training. It starts by itself when the device is "
                "free; Pause leaves the line.")
    if run.idle_note and run.state == T.PAUSED:
        st.info(run.idle_note)
    if run.state == T.FAILED:
        st.error(run.message)
    elif run.state == T.FINISHED:
        st.success(f"Finished: {run.message}.")


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
    st.plotly_chart(
        figures.kernel_grid(weights, title=f"Layer {conv.index} kernels at step {step} "
                                           f"({weights.shape[0]} x {weights.shape[1]}, "
                                           f"{weights.shape[2]}x{weights.shape[3]})",
                            height=460),
        width="stretch", key="kernels")


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
        return

    def figure():  # changes only with the predictions: once per evaluation
        data = _test_set(run)
        matrix = Dg.confusion_matrix(predictions.predicted, data.test_y, run.spec.num_classes)
        accuracy = np.trace(matrix) / max(matrix.sum(), 1)
        return figures.confusion_matrix(
            matrix, data.classes,
            title=f"{accuracy:.1%} of {matrix.sum():,} test images right")

    st.plotly_chart(_cached("confusion", run, (predictions.step, id(predictions)), figure),
                    width="stretch",
                    key="confusion")


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
        lines = [f"<b>true {classes[labels[index]]}</b>"]
        lines += [f"{classes[c]} {p:.0%}" for c, p in zip(top, probs)]
        captions.append("<br>".join(lines))
        colors.append("#1a7f37" if top[0] == labels[index] else "#c62828")
    long_names = max(len(c) for c in classes) > 6
    st.plotly_chart(figures.image_grid(images, captions, columns=6 if long_names else 8,
                                       caption_colors=colors, caption_lines=4,
                                       cell_px=120 if long_names else 100),
                    width="stretch", key="gallery")
    st.caption("Green: the top guess is right. Red: a mistake. Each image lists the true "
               "class, then the network's three most likely classes.")


def _layer_names(analysis: M.Analysis) -> dict[int, str]:
    return {info.index: f"{info.index} {info.type}{' (auto)' if info.auto else ''}"
            for info in analysis.layers}


def _dead_filters(run: RunStatus, version: int) -> list[Dg.DeadFilters]:
    """Dead filters on the first test images, on a copy of the weights, once per evaluation."""
    analysis = _analysis(run)

    def compute():
        if not any(info.type == "conv" for info in analysis.layers):
            return []
        _, state = runs.executor().latest_weights(run.run_id)
        return V.dead_filters(run.spec, state, _test_set(run), DEAD_FILTER_IMAGES, analysis)

    return _cached("dead", run, (version, run.step == 0), compute)


def _diagnostics(run: RunStatus, records: RunRecords, dead: list[Dg.DeadFilters]) -> None:
    norms = records.norms
    st.markdown("**Weight and gradient norms per layer.** Gradients that shrink to almost "
                "nothing in the first layers mean those layers stop learning; norms that "
                "shoot up mean the learning rate is too high.")
    if norms:
        st.plotly_chart(figures.norm_curves(norms, _layer_names(_analysis(run))),
                        width="stretch", key="norms")
    else:
        st.caption("Norms appear after the first few training steps.")
    st.markdown(f"**Dead filters**: filters whose ReLU output is zero for every one of the "
                f"first {DEAD_FILTER_IMAGES} test images. They get no gradient, so they "
                "never learn again.")
    if dead:
        st.plotly_chart(figures.dead_filter_bars(
            [(f"layer {d.conv_index}", d.dead, d.total) for d in dead]),
            width="stretch", key="dead")
    else:
        st.caption("No conv layer followed by a ReLU in this network.")


def _compare(run: RunStatus, records: RunRecords) -> None:
    history = [s for s in runs.executor().history(run.owner) if s.run_id != run.run_id
               or s.number != run.number]
    current = RunSummary(run.run_id, run.number, run.spec, run.config, run.device,
                         records.steps, records.evals, records.epochs, run.state)
    entries = [(f"{run_label(run.number, current.spec, current.config)} (this run)",
                current.steps, current.evals)]
    entries += [(s.label, s.steps, s.evals) for s in reversed(history)]
    if not history:
        st.info("Runs you finish, stop or reset stay here (the last "
                f"{KEEP_RUNS_PER_SESSION}), so you can change one thing, e.g. 3x3 vs "
                "5x5 kernels or SGD vs Adam, train again and compare the curves.")
    st.plotly_chart(figures.compare_curves(entries), width="stretch", key="compare")
    rows = [_summary_row(current, "this run")] + [_summary_row(s, "") for s in reversed(history)]
    st.dataframe(rows, hide_index=True, width="stretch")


def _summary_row(summary: RunSummary, note: str) -> dict:
    config = summary.config
    return {"run": f"#{summary.number} {note}".strip(), "network": summary.spec.name,
            "layers": _outline(summary.spec), "dataset": config.dataset,
            "optimizer": S.OPTIMIZER_LABELS[config.optimizer], "lr": f"{config.lr:g}",
            "batch": config.batch_size, "augment": "yes" if config.augment else "no",
            "steps": summary.steps[-1].step if summary.steps else 0,
            "test accuracy": f"{summary.test_acc:.1%}" if summary.test_acc is not None
            else "-"}


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
