"""Train page: choose a network and dataset, train live, watch curves and kernels."""
from __future__ import annotations

import streamlit as st

from .. import figures
from .. import spec as S
from .. import train as T
from ..data import DATASET_NAMES, KNOWN_SHAPES, DataError
from ..presets import load_preset, preset_names
from . import runs, session

REFRESH_SECONDS = 0.5


def render() -> None:
    st.title("Train a CNN, live")
    st.caption("Pick a network and a dataset, press Train, and watch it learn. "
               "Curves and first-layer kernels refresh twice a second while it trains.")
    settings = _settings_form()
    _live_panels(settings)


def _is_active(run: runs.Run | None) -> bool:
    return run is not None and run.trainer.state in (T.RUNNING, T.PAUSED)


def _settings_form() -> dict:
    locked = _is_active(runs.current_run())
    columns = st.columns([2, 2, 1, 1])
    model_spec = session.current_spec()
    names = preset_names()
    columns[0].selectbox("Load a preset network", names, index=None, disabled=locked,
                         placeholder=model_spec.name,
                         format_func=lambda name: load_preset(name).name, key="preset",
                         on_change=_load_chosen_preset)
    st.caption(f"**{model_spec.name}**: {model_spec.description}" if model_spec.description
               else f"**{model_spec.name}**")
    section = model_spec.training or S.TrainingSpec()
    config = S.resolve_training(section)
    default_dataset = config.dataset if config.dataset in DATASET_NAMES else "mnist"
    # Widget keys carry the spec's name so a newly loaded network shows its own settings.
    suffix = model_spec.name
    dataset = columns[1].selectbox("Dataset", DATASET_NAMES, disabled=locked,
                                   index=DATASET_NAMES.index(default_dataset),
                                   key=f"dataset-{suffix}")
    epochs = columns[2].number_input("Epochs", 1, S.LIMITS.max_epochs, config.epochs,
                                     disabled=locked, key=f"epochs-{suffix}")
    lr = columns[3].number_input("Learning rate", 1e-5, 10.0, config.lr, format="%.4f",
                                 disabled=locked, key=f"lr-{suffix}")
    return {"spec": model_spec, "dataset": dataset, "epochs": int(epochs), "lr": float(lr)}


def _load_chosen_preset() -> None:
    name = st.session_state.get("preset")
    if name:
        session.set_spec(load_preset(name))
        st.session_state["preset"] = None


def _controls(settings: dict, run: runs.Run | None) -> None:
    """Media-player buttons. Callbacks run before the rerun, so every button's enabled
    state below already reflects the command just given."""
    state = run.trainer.state if run else None
    active = state in (T.RUNNING, T.PAUSED)
    buttons = st.columns(5)
    buttons[0].button("Train", type="primary", disabled=active, use_container_width=True,
                      on_click=_start, args=(settings,))
    buttons[1].button("Pause", disabled=state != T.RUNNING, use_container_width=True,
                      on_click=lambda: run.trainer.pause())
    buttons[2].button("Resume", disabled=state != T.PAUSED, use_container_width=True,
                      on_click=lambda: run.trainer.resume())
    buttons[3].button("Step", disabled=state != T.PAUSED, use_container_width=True,
                      help="Train one batch, then stay paused",
                      on_click=lambda: run.trainer.step())
    buttons[4].button("Stop", disabled=not active, use_container_width=True,
                      on_click=lambda: run.trainer.stop())
    error = st.session_state.pop("train_error", None)
    if error:
        st.error(error)


def _start(settings: dict) -> None:
    model_spec: S.ModelSpec = settings["spec"]
    config = S.resolve_training(model_spec.training, dataset=settings["dataset"],
                                epochs=settings["epochs"], lr=settings["lr"])
    try:
        if config.dataset in KNOWN_SHAPES:  # say so before a slow load
            T.check_fits(model_spec, *KNOWN_SHAPES[config.dataset], config.dataset)
        with st.spinner(f"Loading {config.dataset}..."):
            dataset = runs.dataset(config.dataset)
        runs.start_run(model_spec, dataset, config)
    except (DataError, S.SpecError, runs.RunLimitError) as error:
        st.session_state["train_error"] = str(error)


@st.fragment(run_every=REFRESH_SECONDS)
def _live_panels(settings: dict) -> None:
    run = runs.current_run()
    # The settings above are outside this fragment: redraw the whole page once when a run
    # starts or ends so they lock and unlock with it.
    active = _is_active(run)
    if st.session_state.setdefault("run_was_active", active) != active:
        st.session_state["run_was_active"] = active
        st.rerun(scope="app")
    _controls(settings, run)
    if run is None:
        st.info("Press **Train** to start. Nothing is trained yet.")
        return
    trainer = run.trainer
    if run.dataset_note:
        st.warning(run.dataset_note)
    _status(trainer)
    steps, evals, _ = trainer.history()
    st.plotly_chart(figures.training_curves(steps, evals), use_container_width=True,
                    key="curves")
    _first_kernels(trainer)


def _status(trainer: T.Trainer) -> None:
    steps, evals, _ = trainer.history()
    latest = steps[-1] if steps else None
    test = evals[-1].test_acc if evals else None
    columns = st.columns(5)
    columns[0].metric("State", trainer.state)
    columns[1].metric("Device", str(trainer.device))
    columns[2].metric("Epoch", f"{trainer.epoch:.2f} / {trainer.config.epochs}")
    columns[3].metric("Test accuracy", "-" if test is None else f"{test:.1%}")
    columns[4].metric("Images/s", "-" if latest is None else f"{latest.samples_per_s:,.0f}")
    st.progress(min(1.0, trainer.step_count / trainer.total_steps),
                text=f"step {trainer.step_count:,} of {trainer.total_steps:,}")
    if trainer.state in (T.FAILED,) or "too high" in trainer.message:
        st.error(trainer.message)
    elif trainer.state == T.FINISHED:
        st.success(f"Finished: {trainer.message}.")


def _first_kernels(trainer: T.Trainer) -> None:
    conv = next((info for info in trainer.analysis.layers if info.type == "conv"), None)
    if conv is None:
        return
    step, state = trainer.latest_weights()
    weights = state[f"{conv.index}.weight"].numpy()
    st.plotly_chart(
        figures.kernel_grid(weights, title=f"Layer {conv.index} kernels at step {step} "
                                           f"({weights.shape[0]} x {weights.shape[1]}, "
                                           f"{weights.shape[2]}x{weights.shape[3]})"),
        use_container_width=True, key="kernels")
