"""The Inspect page through AppTest on a paused run with synthetic data (no downloads)."""
from __future__ import annotations

import json
import secrets
import time

import pytest
import torch
from streamlit.testing.v1 import AppTest

from playground import spec as S
from playground.data import shared
from playground.runs import RunOptions
from playground.train import trainer as T
from playground.data.datasets import Dataset
from playground.figures.style import DEFAULT, PRESENTATION
from playground.presets import load_preset
from tests.unit.test_runs import RunView
from tests.support import chart_titles

TIMEOUT = 60


def _page() -> None:
    from playground.ui import inspect_page

    inspect_page.render()


def synthetic(shape=(1, 28, 28), classes=10, train=256, test=64, seed=0) -> Dataset:
    generator = torch.Generator().manual_seed(seed)
    return Dataset(
        name="synthetic", train_x=torch.randn(train, *shape, generator=generator),
        train_y=torch.randint(0, classes, (train,), generator=generator),
        test_x=torch.randn(test, *shape, generator=generator),
        test_y=torch.arange(test) % classes, classes=[f"c{i}" for i in range(classes)],
        mean=(0.5,) * shape[0], std=(0.25,) * shape[0], source="synthetic")


def synthetic_name(shape) -> str:
    return "synthetic-" + "x".join(str(n) for n in shape)


@pytest.fixture(scope="module", autouse=True)
def synthetic_datasets():
    """The runs here and the page load `synthetic-CxHxW` by name from the shared cache."""
    made, load = {}, shared.dataset

    def dataset(name: str) -> Dataset:
        if not name.startswith("synthetic-"):
            return load(name)
        shape = tuple(int(n) for n in name.removeprefix("synthetic-").split("x"))
        return made.setdefault(name, synthetic(shape))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shared, "dataset", dataset)
        yield


def paused_run(preset: str, shape, steps: int = 3) -> RunView:
    from playground.ui import runs

    model_spec = load_preset(preset)
    config = S.resolve_training(model_spec.training, dataset="mnist", epochs=1, lr=0.001)
    config.batch_size = 32
    # Each fixture's run belongs to its own session: one session may hold one active run.
    executor = runs.executor()
    run_id = executor.create(secrets.token_urlsafe(8), model_spec, config,
                             synthetic_name(shape), device="cpu",
                             options=RunOptions(snapshot_every=1, log_every=1))
    executor.step(run_id, steps)
    deadline = time.monotonic() + 30
    while (status := executor.status(run_id)).step < steps or status.state != T.PAUSED:
        assert time.monotonic() < deadline, "trainer did not step"
        time.sleep(0.05)
    return RunView(executor, run_id)


@pytest.fixture(scope="module")
def lenet_run():
    run = paused_run("lenet5", (1, 28, 28))
    yield run
    run.executor.free(run.run_id)


def page_for(run) -> AppTest:
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.session_state["run_id"] = run.run_id
    at.session_state["run_owner"] = run.owner
    at.run()
    assert not at.exception, at.exception
    return at


def test_without_a_run_the_page_says_what_to_do():
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert "Train" in at.info[0].value


def test_probe_prediction_and_kernels(lenet_run):
    at = page_for(lenet_run)
    assert at.title[0].value == "Inspect the network"
    titles = chart_titles(at)
    assert any(t.startswith("Prediction: c") for t in titles)
    assert any(t.startswith("Layer 0 conv (5x5, 1→6) kernels at step 3") for t in titles)
    assert any(t.startswith("Kernel out 0, in 0") for t in titles)
    at.radio(key="insp_kernel_scale").set_value("per kernel").run()
    assert not at.exception
    at.selectbox(key="insp_kernel_layer").set_value("3").run()
    assert any(t.startswith("Layer 3 conv (5x5, 6→16) kernels") for t in chart_titles(at))


def test_test_image_choice_and_next_mistake(lenet_run):
    at = page_for(lenet_run)
    at.selectbox(key="insp_class").set_value(4).run()
    at.number_input(key="insp_nth").set_value(2).run()
    assert any("test image 24 (c4)" in t for t in chart_titles(at))
    next(b for b in at.button if b.label == "Next mistake").click().run()
    assert not at.exception
    assert any("misclassified" in c.value or "No mistakes" in c.value for c in at.caption)


def test_feature_maps_with_stats_and_receptive_field(lenet_run):
    at = page_for(lenet_run)
    at.radio(key="insp_panel").set_value("Feature maps").run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert {"min", "max", "mean", "zeros"} <= set(labels)
    titles = chart_titles(at)
    assert any("after the nonlinearity" in t for t in titles)
    # The default pixel is the centre (14, 14) of layer 0's 28x28 map: a 5x5 window.
    assert any(t.startswith("Receptive field of (14, 14): 5x5") for t in titles)
    at.radio(key="insp_fm_which").set_value("before it").run()
    assert any("before it" in t for t in chart_titles(at))
    # A click at the corner (what the scatter selection reports) reaches into the padding.
    at.session_state["insp_rf_pixel"] = (0, 0, 0)
    at.run()
    assert any("(0, 0): 5x5 input pixels, 16 of them padding" in t for t in chart_titles(at))


def test_pooling_max_and_avg(lenet_run):
    at = page_for(lenet_run)
    at.radio(key="insp_panel").set_value("Pooling").run()
    assert not at.exception
    assert any(t.startswith("Layer 2 (avgpool)") for t in chart_titles(at))
    at.radio(key="insp_pool_mode_2").set_value("max").run()
    assert any("what max pooling would give" in t for t in chart_titles(at))


def test_frequency_and_grad_cam(lenet_run):
    at = page_for(lenet_run)
    at.radio(key="insp_panel").set_value("Frequency").run()
    assert not at.exception
    titles = chart_titles(at)
    assert any(t.startswith("Layer 0 conv (5x5, 1→6) kernel out 0, in 0: ") for t in titles)
    assert any(t.startswith("Convolution theorem") for t in titles)
    at.radio(key="insp_freq_db").set_value("dB").run()
    assert not at.exception
    at.radio(key="insp_panel").set_value("Grad-CAM").run()
    assert not at.exception
    assert any(t.startswith("Grad-CAM of layer 5") for t in chart_titles(at))


def test_time_machine_goes_back_to_a_snapshot(lenet_run):
    at = page_for(lenet_run)
    assert at.select_slider(key="insp_pos").value == len(lenet_run.trainer.snapshots())
    at.select_slider(key="insp_pos").set_value(0).run()
    assert not at.exception
    assert any(t.startswith("Layer 0 conv (5x5, 1→6) kernels at step 0")
               for t in chart_titles(at))
    assert any("Follow latest" == b.label for b in at.button)
    next(b for b in at.button if b.label == "Follow latest").click().run()
    assert any(t.startswith("Layer 0 conv (5x5, 1→6) kernels at step 3")
               for t in chart_titles(at))


def test_uploads_bad_and_good(lenet_run):
    at = page_for(lenet_run)
    at.radio(key="insp_source").set_value("Upload").run()
    assert not at.exception
    assert any("Upload a PNG" in i.value for i in at.info)


@pytest.fixture(scope="module")
def resnet_run():
    run = paused_run("resnet_cifar10", (3, 32, 32), steps=2)
    yield run
    run.executor.free(run.run_id)


def test_convs_inside_residual_blocks_in_every_conv_panel(resnet_run):
    at = page_for(resnet_run)
    chooser = at.selectbox(key="insp_kernel_layer")
    labels = list(chooser.options)  # AppTest lists the labels the user reads
    assert "layer 4 residual · conv2 (3x3, 32→32)" in labels
    assert "layer 5 residual · projection shortcut (1x1, 32→64, stride 2)" in labels
    assert len(labels) == 9  # the stem, 2 + 2 + 2 body convs, 2 shortcuts
    chooser.set_value("5.body.3").run()
    assert not at.exception
    assert any(t.startswith("Layer 5 residual · conv2 (3x3, 64→64) kernels at step 2: "
                            "out 0–15 of 64") for t in chart_titles(at))
    assert any(t.startswith("Kernel out 0, in 0") for t in chart_titles(at))

    at.radio(key="insp_panel").set_value("Frequency").run()
    at.selectbox(key="insp_freq_layer").set_value("4.shortcut.0").run()
    assert not at.exception
    titles = chart_titles(at)
    assert any(t.startswith("Layer 4 residual · projection shortcut (1x1, 16→32, stride 2) "
                            "kernel out 0, in 0: ") for t in titles)
    assert any(t.startswith("Convolution theorem on this conv's input") for t in titles)

    at.radio(key="insp_panel").set_value("Feature maps").run()
    at.selectbox(key="insp_fm_layer").set_value("4.body.0").run()
    assert not at.exception
    titles = chart_titles(at)
    assert any(t.startswith("Layer 4 residual · conv1 (3x3, 16→32, stride 2) feature maps "
                            "(after the nonlinearity), 32 channels") for t in titles)
    # centre (8, 8) of the 16x16 map: the strided 3x3 reads rows 15..17 of block 3, whose
    # two 3x3s and the stem's 3x3 widen that to rows 12..20 of the input (9x9)
    assert any(t.startswith("Receptive field of (8, 8): 9x9") for t in titles)
    assert any("Rows 12…20" in c.value for c in at.caption)
    at.selectbox(key="insp_fm_layer").set_value("4.body.3").run()
    assert any("conv2 (3x3, 32→32) feature maps, 32 channels" in t for t in chart_titles(at))


def test_time_machine_thumb_shows_the_step_and_epoch(lenet_run):
    """The thumb reads "step 2 · epoch 0.25", not the snapshot's position in the list."""
    at = page_for(lenet_run)
    machine = at.select_slider(key="insp_pos")
    per_epoch = lenet_run.trainer.steps_per_epoch
    steps = [s.step for s in lenet_run.trainer.snapshots()]
    labels = list(machine.options)  # AppTest lists the labels the user reads
    assert labels[:-1] == [f"step {step:,} · epoch {step / per_epoch:.2f}" for step in steps]
    assert labels[-1] == "now (the latest step)"   # a label that never changes
    assert machine.format_func(machine.value) == labels[-1]


def _chart_fonts(at: AppTest) -> set[int]:
    return {json.loads(chart.proto.spec)["layout"]["font"]["size"]
            for chart in at.get("plotly_chart")}


def test_presenting_draws_every_panel_in_the_presentation_style(lenet_run):
    at = AppTest.from_function(_page, default_timeout=TIMEOUT)
    at.session_state["run_id"] = lenet_run.run_id
    at.session_state["run_owner"] = lenet_run.owner
    at.query_params["present"] = "1"
    at.run()
    for panel in ("Kernels", "Feature maps", "Pooling", "Frequency", "Grad-CAM"):
        at.radio(key="insp_panel").set_value(panel).run()
        assert not at.exception, at.exception
        assert _chart_fonts(at) == {PRESENTATION.font_size}, panel


def test_without_present_the_panels_keep_their_everyday_style(lenet_run):
    assert _chart_fonts(page_for(lenet_run)) == {DEFAULT.font_size}
