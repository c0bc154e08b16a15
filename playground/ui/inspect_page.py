"""Inspect page: look inside the session's run with one probe image.

Layout: the probe (test image, upload or drawing) and its prediction on top, outside the
live fragment so that choosing one redraws everything; below, the time machine and one
panel at a time (kernels, feature maps, pooling, frequency, Grad-CAM, and what the network
sees: favourite images, attributions, adversarial noise, feature space) in a fragment that
refreshes twice a second while the run trains. Only the chosen panel is computed.

Every figure is built from a CPU copy of the weights (the executor's latest weights or a
snapshot), never from the module the trainer is updating.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

import numpy as np
import streamlit as st
import torch

from playground import spec as S
from playground.analysis import inspection_view as V
from playground.analysis import network as I
from playground.analysis import spectra as SP
from playground.figures import inspection as IF
from playground.figures.style import style_for
from playground.analysis import probe as P
from playground.data import shared
from playground.data.datasets import Dataset
from playground.model import build as M
from playground.runs import RunStatus
from playground.train import trainer as T
from playground.ui import (adversarial_panel, attribution_panel, favourite_images_panel,
                           feature_space_panel)
from playground.ui import runs
from playground.ui import session
from playground.ui import timing
from playground.ui import watching
from playground.ui import weights_upload
from playground.ui.panels import INSPECT_PANELS as PANELS
from playground.ui.text import for_chart, plain

REFRESH_SECONDS = 0.5
WATCH_SECONDS = 2.0
SOURCES = ("Test image", "Upload", "Draw")
MAX_TILES = 256          # kernels drawn per page
EVOLUTION_FRAMES = 10
CANVAS_SIZE = 224
NOW = "now (the latest step)"
Value = TypeVar("Value")


@dataclass
class Probe:
    tensor: torch.Tensor      # normalised [C, H, W] on the CPU
    image: np.ndarray         # [H, W, C] in [0, 1] for drawing
    true_class: int | None
    key: str                  # identifies the probe for caching
    caption: str


def render() -> None:
    st.title("Inspect the network")
    run_id = runs.current_run_id()
    run = runs.executor().status(run_id) if run_id else None
    if run is None or not runs.is_watched(run):
        with st.expander("Load trained weights from a file", expanded=run is None,
                         icon=":material/file_open:"):
            weights_upload.panel(_weights_config(), "inspect")
    if run is None:
        st.info("Nothing to inspect yet: start a run on the **Train** page, or load trained "
                "weights above, then come back here (it can keep training while you look).")
        return
    if runs.is_watched(run):
        watching.banner(run, "inspect")
    if run.origin:
        st.caption(f"Run #{run.number}: weights {plain(run.origin)}"
                   f"{', trained on since' if run.step else ''}.")
    st.caption("Pick an image to look at the network with, then a panel. While the run "
               "trains, the panels follow it; the time machine goes back to earlier steps.")
    if run.from_store:
        st.caption(f"A saved run ({run.state} at step {run.step:,}): its weights as they "
                   "were saved; the earlier snapshots were not kept.")
    probe = _probe_section(run)
    if probe is None:
        return
    running = run.state == T.RUNNING
    st.session_state["insp_rendered_running"] = running
    st.fragment(_live, run_every=REFRESH_SECONDS if running else None)(run.run_id, probe)
    if not running:
        st.fragment(_watch, run_every=WATCH_SECONDS)(run.run_id)


def _weights_config() -> S.TrainingConfig:
    """What a run of loaded weights trains with: the network's lesson settings on the
    dataset the Train page has chosen for it."""
    model_spec = session.current_spec()
    chosen = st.session_state.get(f"dataset-{model_spec.name}")
    return S.resolve_training(model_spec.training, **({"dataset": chosen} if chosen else {}))


def _is_running(run: RunStatus | None) -> bool:
    return run is not None and run.state == T.RUNNING


def _watch(run_id: str) -> None:
    """While the page is still (paused or finished), notice a run that starts again."""
    running = _is_running(runs.executor().status(run_id))
    if running != st.session_state.get("insp_rendered_running"):
        st.rerun(scope="app")


def _dataset(run: RunStatus) -> Dataset:
    """The run's dataset, from the process-wide cache (the run reads the same copy); the
    session keeps hold of it for as long as it shows this run."""
    return session.cached("insp_dataset", run.run_id,
                          lambda: shared.dataset(runs.executor().dataset_info(run.run_id).name))


def _analysis(run: RunStatus) -> M.Analysis:
    """The layers of the run's network (its spec never changes while the run lives)."""
    return session.cached("insp_analysis", run.run_id, lambda: M.analyze(run.spec))


# --- the probe ----------------------------------------------------------------------------

def _probe_section(run: RunStatus) -> Probe | None:
    data = _dataset(run)
    left, middle = st.columns([3, 2])
    with left:
        source = st.radio("Probe image", SOURCES, horizontal=True, key="insp_source")
        if source == "Test image":
            probe = _test_probe(run, data)
        elif source == "Upload":
            probe = _upload_probe(data)
        else:
            probe = _drawn_probe(data)
    if probe is None:
        with middle:
            st.info("No probe image yet." if source == "Draw" else
                    "Upload a PNG or JPEG to look at the network with it.")
        return None
    return probe


def _test_probe(run: RunStatus, data: Dataset) -> Probe:
    columns = st.columns([3, 2])
    class_index = columns[0].selectbox("Class", range(len(data.classes)), key="insp_class",
                                       format_func=lambda i: data.classes[i])
    positions = P.class_indices(data.test_y, class_index)
    if len(positions) == 0:
        st.warning(f"the test set has no image of class {plain(data.classes[class_index])}")
        positions = np.arange(1)
    count = len(positions)
    if st.session_state.get("insp_nth", 0) >= count:
        st.session_state["insp_nth"] = 0
    nth = columns[1].number_input(f"Image (of {count:,})", 0, count - 1, key="insp_nth")
    index = int(positions[int(nth)])
    st.button("Next mistake", help="The next test image the network (at the step shown "
              "below) gets wrong", on_click=_next_mistake, args=(run, index))
    note = st.session_state.pop("insp_mistake_note", None)
    if note:
        st.caption(note)
    tensor, label = V.test_probe(data, index)
    return Probe(tensor, P.to_display(tensor, data.mean, data.std), label, f"test:{index}",
                 f"test image {index:,} ({for_chart(data.classes[label])})")


def _next_mistake(run: RunStatus, current: int) -> None:
    network = st.session_state.get("insp_network")
    if network is None:
        network = V.network_at(run.spec, runs.executor().latest_weights(run.run_id)[1])
    data = _dataset(run)
    found = V.next_mistake(network, data, current, _analysis(run))
    if found is None:
        st.session_state["insp_mistake_note"] = "No mistakes: every test image is right."
        return
    label = int(data.test_y[found])
    positions = P.class_indices(data.test_y, label)
    st.session_state["insp_class"] = label
    st.session_state["insp_nth"] = int(np.searchsorted(positions, found))
    st.session_state["insp_mistake_note"] = f"Test image {found:,} is misclassified."


def _upload_probe(data: Dataset) -> Probe | None:
    channels, height, width = data.input_shape
    upload = st.file_uploader("PNG or JPEG (up to 10 MB)", type=["png", "jpg", "jpeg"],
                              max_upload_size=10,
                              key="insp_upload")
    centre = st.checkbox("Centre like an MNIST digit", value=channels == 1,
                         key="insp_centre", disabled=channels != 1,
                         help="Invert dark-on-light, fit the ink in 20x20 and centre it by "
                              "its centre of mass, as MNIST's digits were prepared")
    if upload is None:
        return None
    raw = upload.getvalue()
    try:
        image = P.decode_upload(raw, channels, height, width, centre_digit=centre)
    except P.ProbeError as error:
        st.error(f"{plain(upload.name)}: {error}")
        return None
    tensor = P.to_tensor(image, data.mean, data.std)
    digest = hashlib.sha1(raw).hexdigest()[:12]
    return Probe(tensor, P.to_display(tensor, data.mean, data.std), None,
                 f"upload:{digest}:{centre}", f"{for_chart(upload.name)} as {height}x{width}")


def _drawn_probe(data: Dataset) -> Probe | None:
    channels, height, width = data.input_shape
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as error:  # not installed, or its component could not register
        st.warning(f"Drawing needs the streamlit-drawable-canvas package ({error}).")
        return None
    st.caption("Draw a digit with the mouse (white on black): the probe follows each stroke "
               "when you release the button. The toolbar above the canvas undoes, redoes "
               "and clears (bin).")
    st.space("small")  # the canvas's floating toolbar would cover the caption
    result = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000",
                       height=CANVAS_SIZE, width=CANVAS_SIZE, drawing_mode="freedraw",
                       return_image_data=True, key="insp_canvas")
    pixels = getattr(result, "image_data", None) if result is not None else None
    if pixels is None:
        return None
    try:
        image = P.from_canvas(pixels, channels, height, width)
    except P.ProbeError as error:
        st.error(str(error))
        return None
    if image is None:
        return None
    tensor = P.to_tensor(image, data.mean, data.std)
    digest = hashlib.sha1(image.tobytes()).hexdigest()[:12]
    return Probe(tensor, P.to_display(tensor, data.mean, data.std), None, f"draw:{digest}",
                 f"your drawing as {height}x{width}")


# --- weights: live or from the time machine -----------------------------------------------

@dataclass
class View:
    step: int
    network: torch.nn.Module
    state: dict[str, torch.Tensor]
    live: bool


def _time_machine(run: RunStatus) -> View:
    executor = runs.executor()
    snapshots = executor.snapshots(run.run_id)
    last = len(snapshots)  # position `last` is "now"
    if st.session_state.get("insp_follow", True) or st.session_state.get("insp_pos", last) > last:
        st.session_state["insp_pos"] = last
    columns = st.columns([5, 2])
    labels = [_moment(s.step, s.epoch) for s in snapshots]
    # "now" without its step: Streamlit keeps a select slider's value as its label, and a
    # label that changed with every refresh made the browser's next message name an option
    # that no longer existed, which sent the slider back to the first snapshot (the step
    # of "now" is written beside the slider).
    labels.append(NOW)
    # Positions as options, steps and epochs on the thumb: a bare snapshot number means
    # nothing to a class.
    position = columns[0].select_slider(
        "Time machine: weight snapshot (right end = now)", range(last + 1), key="insp_pos",
        format_func=labels.__getitem__, on_change=_moved_time_machine, args=(last,),
        help="Go back to earlier training steps. While the run trains, the slider follows "
             "the latest step unless you move it.")
    following = position == last
    if not following:
        columns[1].button("Follow latest", on_click=_follow_latest, key="insp_follow_btn")
    state = None
    if not following:
        snapshot = snapshots[position]
        step, live = snapshot.step, False
        state = executor.snapshot_weights(run.run_id, snapshot.snapshot_id)
    if state is None:  # following, or the snapshot was thinned out a moment ago
        (step, state), live = executor.latest_weights(run.run_id), True
    network = _cached_network(run, step, state, live)
    epoch = step / run.steps_per_epoch
    columns[1].markdown(f"**step {step:,}** (epoch {epoch:.2f})" +
                        (" · live" if live else " · snapshot"))
    return View(step, network, state, live)


def _moment(step: int, epoch: float) -> str:
    return f"step {step:,} · epoch {epoch:.2f}"


def _moved_time_machine(last: int) -> None:
    st.session_state["insp_follow"] = st.session_state.get("insp_pos", last) >= last


def _follow_latest() -> None:
    st.session_state["insp_follow"] = True


def _cached_network(run: RunStatus, step: int, state: dict, live: bool) -> torch.nn.Module:
    key = (run.run_id, step, live)
    cached = st.session_state.get("insp_network_key")
    network = st.session_state.get("insp_network")
    if cached != key or network is None:
        same_architecture = network is not None and cached is not None and cached[0] == run.run_id
        network = V.network_at(run.spec, state, _analysis(run),
                               reuse=network if same_architecture else None)
        st.session_state["insp_network"] = network
        st.session_state["insp_network_key"] = key
        st.session_state.pop("insp_acts_key", None)
    return network


def _conv_units(view: View) -> list[I.ConvUnit]:
    return I.conv_units(view.network)


def _conv_activation(view: View, probe: Probe, unit: I.ConvUnit) -> I.ConvActivation:
    """One forward pass per (weights, probe, conv), kept for the fragment's next refresh."""
    key = (st.session_state.get("insp_network_key"), probe.key, unit.name)
    cached = st.session_state.get("insp_conv_act")
    if cached is None or cached[0] != key:
        cached = (key, I.conv_activation(view.network, probe.tensor, unit.name))
        st.session_state["insp_conv_act"] = cached
    return cached[1]


def _activations(view: View, probe: Probe) -> list[I.LayerActivation]:
    key = (st.session_state.get("insp_network_key"), probe.key)
    if st.session_state.get("insp_acts_key") != key:
        st.session_state["insp_acts"] = I.activations(view.network, probe.tensor)
        st.session_state["insp_probs"] = I.predict(view.network, probe.tensor)
        st.session_state["insp_acts_key"] = key
    return st.session_state["insp_acts"]


def _view_cached(name: str, inputs: tuple, build: Callable[[], Value]) -> Value:
    """A figure (or computation) of the weights shown, rebuilt only when those weights
    (the view's network), `inputs` (the probe, the panel's own choices) or the figure style
    changed: a refresh that finds the same step, as while paused, on a snapshot or between
    two slow training steps, sends the figure it built before."""
    version = (st.session_state.get("insp_network_key"), inputs, session.figure_style())
    return session.cached(f"insp_view_{name}", version, build)


# --- the live part ------------------------------------------------------------------------

def _live(run_id: str, probe: Probe) -> None:
    run = runs.executor().status(run_id)
    if _is_running(run) != st.session_state.get("insp_rendered_running") or run is None:
        st.rerun(scope="app")  # started, stopped or freed: the fragment's timer must change
    with timing.timed("inspect refresh", spec=run.spec.name) as logged:
        logged["panel"] = _draw_live(run, probe)


def _draw_live(run: RunStatus, probe: Probe) -> str | None:
    """The probe, its prediction and the chosen panel; returns the panel's name."""
    started = time.perf_counter()
    view = _time_machine(run)
    acts = _activations(view, probe)
    probs = st.session_state["insp_probs"]
    classes = _dataset(run).classes
    chart_names = [for_chart(name) for name in classes]
    predicted = int(np.argmax(probs))
    verdict = ("" if probe.true_class is None else
               " ✓ right" if predicted == probe.true_class else
               f" ✗ wrong (it is {chart_names[probe.true_class]})")
    left, right = st.columns([2, 3])
    with left:
        # the probe changes when the user picks another, not with training
        style = session.figure_style()
        figure = session.cached("insp_probe_figure", (probe.key, style),
                                lambda: IF.probe_image(probe.image, probe.caption, height=300,
                                                       style=style))
        st.plotly_chart(figure, width="stretch", key="insp_probe_image",
                        config={"displayModeBar": False})
    with right:
        title = f"Prediction: {chart_names[predicted]} ({probs[predicted]:.0%}){verdict}"
        figure = _view_cached(
            "probabilities", (probe.key, probe.true_class),
            lambda: IF.probabilities(probs, chart_names, probe.true_class, title=title,
                                     height=300, style=session.figure_style()))
        st.plotly_chart(figure, width="stretch", key="insp_probs_chart",
                        config={"displayModeBar": False})
    shown = session.visible_panels(PANELS)
    if not shown:
        st.info("This lesson hides every inspection panel.")
        return None
    panel = st.radio("Panel", shown, horizontal=True, key="insp_panel")
    infos = _analysis(run).layers
    if panel == "Kernels":
        _kernels_panel(run, view, infos)
    elif panel == "Feature maps":
        _feature_panel(view, probe, acts, infos)
    elif panel == "Pooling":
        _pooling_panel(probe, acts, infos)
    elif panel == "Frequency":
        _frequency_panel(view, probe, acts, infos)
    elif panel == "Grad-CAM":
        _grad_cam_panel(classes, view, probe, infos)
    else:
        _seeing_panel(panel, run, view, probe)
    st.caption(f"Panel built in {(time.perf_counter() - started) * 1000:.0f} ms.")
    return panel


def _layer_label(info) -> str:
    shape = "x".join(str(n) for n in info.output_shape)
    return f"layer {info.index}: {info.type} → {shape}"


def _choose_layer(label: str, infos: list, key: str):
    by_index = {info.index: info for info in infos}
    if st.session_state.get(key) not in by_index:
        st.session_state[key] = infos[0].index
    index = st.selectbox(label, list(by_index), key=key,
                         format_func=lambda i: _layer_label(by_index[i]))
    return by_index[index]


def _choose_conv(label: str, units: list[I.ConvUnit], key: str) -> I.ConvUnit:
    by_name = {unit.name: unit for unit in units}
    if st.session_state.get(key) not in by_name:
        st.session_state[key] = units[0].name
    name = st.selectbox(label, list(by_name), key=key,
                        format_func=lambda n: by_name[n].label,
                        help="Every conv of the network, those inside residual blocks "
                             "(body convs and projection shortcuts) included.")
    return by_name[name]


# --- kernels ------------------------------------------------------------------------------

def _kernels_panel(run: RunStatus, view: View, infos: list) -> None:
    units = _conv_units(view)
    if not units:
        st.info("This network has no conv layer.")
        return
    columns = st.columns([3, 2, 2])
    with columns[0]:
        unit = _choose_conv("Conv", units, "insp_kernel_layer")
    scale = columns[1].radio("Colour scale", ("per layer", "per kernel"), horizontal=True,
                             key="insp_kernel_scale",
                             help="Per layer: one scale, compare kernels' strength. "
                                  "Per kernel: each stretched, see each one's pattern.")
    weights = view.state[unit.weight_key].numpy()
    out_channels, in_channels = weights.shape[:2]
    shown_in = min(in_channels, 16)
    per_page = max(1, MAX_TILES // shown_in)
    pages = -(-out_channels // per_page)
    page = 0
    if pages > 1:
        page = columns[2].number_input(f"Page (of {pages})", 1, pages, key="insp_kernel_page") - 1
    chunk, first = IF.kernel_page(weights, page, per_page)
    title = (f"{_capital(unit.label)} kernels at step {view.step:,}: out {first}–"
             f"{first + len(chunk) - 1} of {out_channels}")
    grid = _view_cached("kernels", (unit.name, scale, page, title),
                        lambda: IF.kernel_grid(chunk, "layer" if scale == "per layer"
                                               else "kernel", first, title,
                                               style=session.figure_style()))
    st.plotly_chart(grid, width="stretch", key="insp_kernels")
    if in_channels > shown_in:
        st.caption(f"Columns are input channels 0–{shown_in - 1} of {in_channels}.")
    if in_channels == 3 and unit.name == units[0].name and run.spec.input[0] == 3:
        images = _view_cached(
            "rgb_kernels", (unit.name, page),
            lambda: IF.rgb_kernel_images(chunk, first, "The same kernels as colour images "
                                                       "(grey = 0)",
                                         style=session.figure_style()))
        st.plotly_chart(images, width="stretch", key="insp_rgb_kernels")
    _evolution(run.run_id, unit, weights.shape)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _evolution(run_id: str, unit: I.ConvUnit, shape) -> None:
    columns = st.columns(2)
    out = columns[0].number_input("Evolution of kernel: out", 0, shape[0] - 1, 0,
                                  key=f"insp_evo_out_{unit.name}")
    inn = columns[1].number_input("in", 0, shape[1] - 1, 0, key=f"insp_evo_in_{unit.name}")
    executor = runs.executor()
    snapshots = executor.snapshots(run_id)
    if len(snapshots) > EVOLUTION_FRAMES:
        picks = np.linspace(0, len(snapshots) - 1, EVOLUTION_FRAMES).round().astype(int)
        snapshots = [snapshots[i] for i in sorted(set(picks))]

    def figure():  # new only with a new snapshot (every 50 steps or more), not per refresh
        states = [(s.step, executor.snapshot_weights(run_id, s.snapshot_id)) for s in snapshots]
        frames = V.kernel_frames([(step, state) for step, state in states if state is not None],
                                 unit.weight_key, out, inn)
        return IF.kernel_evolution(frames, f"Kernel out {out}, in {inn} from initialisation",
                                   style=style)

    style = session.figure_style()
    version = (run_id, unit.name, out, inn, tuple(s.step for s in snapshots), style)
    st.plotly_chart(session.cached("insp_evolution", version, figure), width="stretch",
                    key="insp_evolution")


# --- feature maps -------------------------------------------------------------------------

def _nonlinearity_after(index: int, acts: list[I.LayerActivation]) -> I.LayerActivation | None:
    """The activation layer a conv feeds (through BatchNorm/dropout), if any."""
    for act in acts[index + 1:]:
        if act.type in I.ACTIVATION_TYPES:
            return act
        if act.type not in ("batchnorm", "dropout"):
            return None
    return None


def _feature_panel(view: View, probe: Probe, acts: list[I.LayerActivation],
                   infos: list) -> None:
    spatial = [info for info in infos if len(info.output_shape) == 3]
    if not spatial:
        st.info("No layer has a spatial output.")
        return
    inner = {}
    for unit in _conv_units(view):
        if unit.inside_block:
            inner.setdefault(unit.layer_index, []).append(unit)
    # A residual block's own convs come right after the block in the list.
    options = {}
    for spot in spatial:
        options[str(spot.index)] = (spot, None)
        options.update({unit.name: (spot, unit) for unit in inner.get(spot.index, [])})
    columns = st.columns([3, 3, 2])
    if st.session_state.get("insp_fm_layer") not in options:
        st.session_state["insp_fm_layer"] = next(iter(options))
    choice = columns[0].selectbox(
        "Layer", list(options), key="insp_fm_layer",
        format_func=lambda key: _feature_label(*options[key]),
        help="Every layer with a spatial output, and every conv inside a residual block.")
    info, unit = options[choice]
    if unit is None:
        act = acts[info.index]
        pre, post = act.pre_activation, act.output
        after = _nonlinearity_after(info.index, acts) if info.type == "conv" else None
        if after is not None:
            pre, post = after.pre_activation, after.output
        name = f"Layer {info.index} ({info.type})"
    else:
        inside = _conv_activation(view, probe, unit)
        pre, post = inside.pre_activation, inside.activated
        if post is None:
            post = inside.output  # conv2's ReLU comes after the shortcut is added
        name = _capital(unit.label)
    choices = ("after the nonlinearity", "before it") if pre is not None else ("output",)
    which = columns[1].radio("Show", choices, horizontal=True, key="insp_fm_which")
    maps = pre if which == "before it" else post
    channel = int(columns[2].number_input("Channel", 0, maps.shape[0] - 1, 0,
                                          key="insp_fm_channel"))
    stats = st.columns(4)
    stats[0].metric("min", f"{maps.min():.3f}")
    stats[1].metric("max", f"{maps.max():.3f}")
    stats[2].metric("mean", f"{maps.mean():.3f}")
    stats[3].metric("zeros", f"{float((maps == 0).mean()):.0%}",
                    help="Share of exactly zero values: the units a ReLU switched off")
    label = "" if which == "output" else f" ({which})"
    grid = _view_cached(
        "feature_grid", (probe.key, choice, which, channel),
        lambda: IF.feature_grid(maps, f"{name} feature maps{label}, {maps.shape[0]} channels",
                                selected=channel, style=session.figure_style()))
    st.plotly_chart(grid, width="stretch", key="insp_fm_grid")
    _receptive_field(infos, probe, info, unit, maps[channel], channel, which)


def _feature_label(info, unit: I.ConvUnit | None) -> str:
    if unit is None:
        return _layer_label(info)
    return f"    {unit.label}"


def _receptive_field(infos: list, probe: Probe, info, unit: I.ConvUnit | None,
                     channel_map: np.ndarray, channel: int, which: str) -> None:
    height, width = channel_map.shape
    owner = info.index if unit is None else unit.name
    stored = st.session_state.get("insp_rf_pixel")
    if not stored or stored[0] != owner:
        stored = (owner, height // 2, width // 2)
    left, right = st.columns(2)
    with left:
        clickable = _view_cached(
            "clickable_map", (probe.key, owner, which, channel, stored),
            lambda: IF.clickable_map(channel_map, f"Channel {channel}: click a pixel",
                                     selected=stored[1:], style=session.figure_style()))
        event = st.plotly_chart(clickable, width="stretch", key="insp_rf_click",
                                on_select="rerun", selection_mode="points")
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    if points:
        point = points[0]
        row, col = int(round(point["y"])), int(round(point["x"]))
        if 0 <= row < height and 0 <= col < width and (owner, row, col) != stored:
            stored = (owner, row, col)
    st.session_state["insp_rf_pixel"] = stored
    _, row, col = stored
    window = I.receptive_window(infos, info.index, row, col, unit)
    top, left_col, bottom, right_col = window
    size = bottom - top + 1
    inside = IF.clip_window(window, probe.image.shape[:2])
    padded = (size * (right_col - left_col + 1) -
              (0 if inside is None else
               (inside[2] - inside[0] + 1) * (inside[3] - inside[1] + 1)))
    title = (f"Receptive field of ({row}, {col}): {size}x{right_col - left_col + 1} "
             f"input pixels" + (f", {padded} of them padding" if padded else ""))
    with right:
        # the window is geometry, not weights: redrawn when the probe or pixel changes
        style = session.figure_style()
        figure = session.cached("insp_rf_figure", (probe.key, window, title, style),
                                lambda: IF.receptive_field_on_input(probe.image, window, title,
                                                                    style=style))
        st.plotly_chart(figure, width="stretch", key="insp_rf_input",
                        config={"displayModeBar": False})
    st.caption(f"Rows {top}…{bottom}, columns {left_col}…{right_col} of the input "
               f"(negative or past the edge = zero padding, dashed).")


# --- pooling ------------------------------------------------------------------------------

def _pooling_panel(probe: Probe, acts: list[I.LayerActivation], infos: list) -> None:
    pools = [info for info in infos if info.type in ("maxpool", "avgpool")]
    if not pools:
        st.info("This network has no pooling layer (a strided conv or a residual stage "
                "downsamples instead).")
        return
    columns = st.columns([3, 2, 2])
    with columns[0]:
        info = _choose_layer("Pooling layer", pools, "insp_pool_layer")
    own = "max" if info.type == "maxpool" else "avg"
    mode_key = f"insp_pool_mode_{info.index}"
    mode = columns[1].radio("Pooling", ("max", "avg"), index=0 if own == "max" else 1,
                            horizontal=True, key=mode_key,
                            help=f"The layer does {own} pooling; switch to compare.")
    features = (acts[info.index - 1].output if info.index > 0
                else probe.tensor.numpy())
    channel = int(columns[2].number_input("Channel", 0, features.shape[0] - 1, 0,
                                          key="insp_pool_channel"))
    layer = info.layer
    stride = layer.stride or layer.kernel_size
    title = (f"Layer {info.index} ({info.type}), channel {channel}"
             + ("" if mode == own else f": what {mode} pooling would give instead"))

    def figure():
        result = I.pool_compare(features[channel:channel + 1], layer.kernel_size, stride,
                                layer.padding)
        return IF.pooling(features[channel], result.max_output[0], result.avg_output[0],
                          result.argmax_rows[0], result.argmax_cols[0], layer.kernel_size,
                          stride, layer.padding, mode, title, style=session.figure_style())

    st.plotly_chart(_view_cached("pooling", (probe.key, info.index, mode, channel), figure),
                    width="stretch", key="insp_pool")
    if mode == "max":
        st.caption("Orange circles: the winning (largest) value in each window; only it "
                   "passes on, and only it gets a gradient.")
    else:
        st.caption("Average pooling: every value in a window counts equally.")


# --- frequency ----------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def _reference_figure(db: bool, present: bool):
    return IF.reference_table(SP.reference_views(db), style=style_for(present))


def _frequency_panel(view: View, probe: Probe, acts: list[I.LayerActivation],
                     infos: list) -> None:
    units = _conv_units(view)
    if not units:
        st.info("This network has no conv layer.")
        return
    columns = st.columns([3, 1, 1, 2])
    with columns[0]:
        unit = _choose_conv("Conv", units, "insp_freq_layer")
    weights = view.state[unit.weight_key].numpy()
    out = int(columns[1].number_input("out", 0, weights.shape[0] - 1, 0, key="insp_freq_out"))
    inn = int(columns[2].number_input("in", 0, weights.shape[1] - 1, 0, key="insp_freq_in"))
    db = columns[3].radio("Magnitude", ("linear", "dB"), horizontal=True,
                          key="insp_freq_db") == "dB"
    kernel = weights[out, inn]
    title = f"{_capital(unit.label)} kernel out {out}, in {inn}"
    response = _view_cached(
        "frequency", (unit.name, out, inn, db),
        lambda: IF.frequency_response(SP.frequency_view(kernel, db), title=title,
                                      style=session.figure_style()))
    st.plotly_chart(response, width="stretch", key="insp_freq")
    st.caption("Angle: the direction (counter-clockwise from →) in which the kernel "
               "responds to change, perpendicular to the edges it finds: Sobel x is 0°.")
    features = _conv_activation(view, probe, unit).input
    theorem = _view_cached(
        "theorem", (probe.key, unit.name, out, inn, db),
        lambda: IF.convolution_theorem(SP.theorem_view(features[inn], kernel, db),
                                       title="Convolution theorem on this conv's input "
                                             f"(channel {inn})",
                                       style=session.figure_style()))
    st.plotly_chart(theorem, width="stretch", key="insp_theorem")
    with st.expander("What low-pass and high-pass look like", expanded=False):
        st.plotly_chart(_reference_figure(db, session.presenting()), width="stretch",
                        key="insp_refs")


# --- what the network sees (favourite images, attributions, adversarial noise, features) ---

def _seeing_panel(panel: str, run: RunStatus, view: View, probe: Probe) -> None:
    data, analysis, running = _dataset(run), _analysis(run), _is_running(run)
    if panel == "Favourite images":
        favourite_images_panel.render(run, view, data, analysis, running)
    elif panel == "Attributions":
        attribution_panel.render(run, view, probe, data, analysis, running)
    elif panel == "Adversarial noise":
        adversarial_panel.render(run, view, probe, data, analysis, running)
    else:
        feature_space_panel.render(run, view, data, analysis, running)


# --- Grad-CAM -----------------------------------------------------------------------------

def _grad_cam_panel(classes: list[str], view: View, probe: Probe, infos: list) -> None:
    index = I.last_spatial_layer(infos)
    if index is None:
        st.info("Grad-CAM needs a layer with a spatial output.")
        return
    choice = st.selectbox("Explain class", [None, *range(len(classes))], key="insp_cam_class",
                          format_func=lambda i: "the predicted class" if i is None
                          else classes[i])

    def figure():
        cam, used = I.grad_cam(view.network, probe.tensor, index, choice)
        return IF.grad_cam_overlay(probe.image, cam, f"Grad-CAM of layer {index} for "
                                                     f"“{for_chart(classes[used])}”",
                                   style=session.figure_style())

    st.plotly_chart(_view_cached("grad_cam", (probe.key, index, choice), figure),
                    width="stretch", key="insp_cam")
    st.caption("Bright: where the last feature maps most raise this class's score "
               "(gradient-weighted channels, ReLU, upsampled).")
