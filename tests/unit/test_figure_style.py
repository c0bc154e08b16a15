"""Every figure builder honours its Style: built with PRESENTATION (a projector at the back
of a lecture hall) all text is at least 18 px and every curve at least 3 px; built with
DEFAULT it keeps its everyday sizes."""
from __future__ import annotations

import inspect
from types import ModuleType, SimpleNamespace as NS
from typing import Callable, Iterator

import numpy as np
import plotly.graph_objects as go
import pytest

from playground.analysis import spectra as SP
from playground.figures import diagram, inspection, seeing, training
from playground.figures.lessons import (activations, convolution, deeper, dice, grids,
                                        invariance, normalisation, pooling, receptive_fields,
                                        signals, transposed, weight_sharing)
from playground.figures.style import DEFAULT, PRESENTATION, Style, style_for
from playground.lessons.convolution import conv_steps
from playground.lessons.dice import dice_sum, uniform_die
from playground.lessons.receptive_fields import receptive_fields as rf_rows
from playground.model.build import analyze
from playground.presets import load_preset

MIN_TEXT_PX = 18
MIN_CURVE_PX = 3
MODULES: tuple[ModuleType, ...] = (training, inspection, seeing, diagram, activations,
                                   convolution, deeper, dice, grids, invariance, normalisation,
                                   pooling, receptive_fields, signals, transposed,
                                   weight_sharing)
RNG = np.random.default_rng(0)


def _records() -> dict:
    steps = [NS(step=s, epoch=s / 10, loss=1 / s, train_acc=0.5 + s / 40) for s in range(1, 11)]
    evals = [NS(step=s, epoch=s / 10, test_loss=1 / s, test_acc=0.6) for s in (5, 10)]
    epochs = [NS(epoch=1, train_loss=0.3, train_acc=0.8)]
    norms = [NS(step=s, layers=[0, 2], weight_norms=[1.0 + s, 2.0], grad_norms=[0.01 * s, 3.0])
             for s in range(1, 6)]
    return dict(steps=steps, evals=evals, epochs=epochs, norms=norms)


def _depth_run(scale: float) -> NS:
    grad = np.array([[0.01, 0.1, 1.0], [0.02, 0.2, 2.0]]) * scale
    return NS(losses=[2.0, 1.5, 1.0], grad_norms=grad, mean_grad_norms=grad.mean(0),
              first_grad_norms=grad[0])


def _sweep() -> NS:
    return NS(values=[-30.0, 0.0, 30.0], predicted=[1, 1, 7], confidence=[0.9, 0.95, 0.6],
              true_probability=[0.9, 0.95, 0.3], images=RNG.random((3, 8, 8)))


def _cases() -> dict[str, Callable[[Style], go.Figure]]:
    """One call per public builder, on small synthetic inputs, by qualified name."""
    r = _records()
    kernels = RNG.normal(size=(4, 2, 3, 3)).astype(np.float32)
    image = RNG.random((12, 12, 1)).astype(np.float32)
    maps = RNG.normal(size=(4, 6, 6)).astype(np.float32)
    pool_in = RNG.normal(size=(4, 4)).astype(np.float32)
    pool_max = np.array([[pool_in[:2, :2].max(), pool_in[:2, 2:].max()],
                         [pool_in[2:, :2].max(), pool_in[2:, 2:].max()]])
    rows, cols = np.zeros((2, 2), int), np.zeros((2, 2), int)
    kernel = SP.reference_kernels()["Sobel x"]
    curves = NS(name="m", angles=[-30, 0, 30], angle_accuracy=[0.5, 0.9, 0.5],
                scales=[0.8, 1.0, 1.2], scale_accuracy=[0.6, 0.9, 0.6], shifts=[-2, 0, 2],
                shift_accuracy=[0.7, 0.9, 0.7])
    model_shift = NS(pool=2, shifts=[0, 1, 2], accuracy=[0.9, 0.8, 0.7],
                     unchanged=[1.0, 0.9, 0.8], feature_change=[0.0, 0.2, 0.4])
    x = np.sin(np.arange(20) / 3)
    return {
        "training.training_curves": lambda s: training.training_curves(
            r["steps"], r["evals"], title="t", by="epoch", epoch_records=r["epochs"], style=s),
        "training.compare_curves": lambda s: training.compare_curves(
            [("a", r["steps"], r["evals"]), ("b", r["steps"], r["evals"])], title="t", style=s),
        "training.norm_curves": lambda s: training.norm_curves(r["norms"], {0: "conv"}, style=s),
        "training.dead_filter_bars": lambda s: training.dead_filter_bars(
            [("conv 1", 2, 8), ("conv 2", 0, 16)], style=s),
        "training.confusion_matrix": lambda s: training.confusion_matrix(
            np.array([[5, 1], [2, 7]]), ["cat", "dog"], title="t", style=s),
        "training.image_grid": lambda s: training.image_grid(
            RNG.random((3, 1, 8, 8)), ["a", "b", "c"], title="t", style=s),
        "training.kernel_grid": lambda s: training.kernel_grid(kernels, title="t", style=s),
        "training.first_layer_kernels": lambda s: training.first_layer_kernels(
            RNG.normal(size=(8, 3, 3, 3)), title="t", style=s),
        "diagram.network_figure": lambda s: diagram.network_figure(
            analyze(load_preset("resnet_cifar10")), error_text="stale", style=s),
        "inspection.kernel_grid": lambda s: inspection.kernel_grid(kernels, title="t", style=s),
        "inspection.rgb_kernel_images": lambda s: inspection.rgb_kernel_images(
            RNG.normal(size=(4, 3, 3, 3)), title="t", style=s),
        "inspection.kernel_evolution": lambda s: inspection.kernel_evolution(
            [(0, kernels[0, 0]), (100, kernels[1, 0])], title="t", style=s),
        "inspection.feature_grid": lambda s: inspection.feature_grid(
            maps, title="t", selected=1, style=s),
        "inspection.clickable_map": lambda s: inspection.clickable_map(
            maps[0], title="t", selected=(1, 1), style=s),
        "inspection.receptive_field_on_input": lambda s: inspection.receptive_field_on_input(
            image, (-2, -2, 3, 3), title="t", style=s),
        "inspection.probe_image": lambda s: inspection.probe_image(image, title="t", style=s),
        "inspection.probabilities": lambda s: inspection.probabilities(
            np.array([0.1, 0.7, 0.2]), ["a", "b", "c"], true_class=2, title="t", style=s),
        "inspection.pooling": lambda s: inspection.pooling(
            pool_in, pool_max, pool_max / 2, rows, cols, 2, 2, title="t", style=s),
        "inspection.frequency_response": lambda s: inspection.frequency_response(
            SP.frequency_view(kernel), title="t", style=s),
        "inspection.convolution_theorem": lambda s: inspection.convolution_theorem(
            SP.theorem_view(RNG.random((16, 16)), kernel), title="t", style=s),
        "inspection.reference_table": lambda s: inspection.reference_table(
            SP.reference_views(), style=s),
        "inspection.grad_cam_overlay": lambda s: inspection.grad_cam_overlay(
            image, RNG.random((3, 3)), title="t", style=s),
        "seeing.image_grid": lambda s: seeing.image_grid(
            RNG.random((10, 12, 12, 1)), [f"c{n}" for n in range(10)], title="t", style=s),
        "seeing.image_spectra": lambda s: seeing.image_spectra(
            [("a", RNG.random((12, 12)), RNG.random((12, 12)), RNG.random((12, 12)))] * 2,
            title="t", style=s),
        "seeing.unsigned_map": lambda s: seeing.unsigned_map(
            image, RNG.random((12, 12)), title="t", style=s),
        "seeing.signed_map": lambda s: seeing.signed_map(
            image, RNG.normal(size=(12, 12)), title="t", unit="u", style=s),
        "seeing.adversarial_images": lambda s: seeing.adversarial_images(
            image, RNG.normal(size=image.shape) * 0.05, image, 0.05, ("a", "b", "c"),
            title="t", style=s),
        "seeing.spectra_pair": lambda s: seeing.spectra_pair(
            RNG.random((12, 12)), RNG.random((12, 12)), ("a", "b"), title="t", style=s),
        "seeing.robustness_curve": lambda s: seeing.robustness_curve(
            np.array([0.0, 0.1, 0.2]), np.array([0.9, 0.5, 0.1]), title="t", style=s),
        "seeing.feature_scatter": lambda s: seeing.feature_scatter(
            RNG.normal(size=(30, 2)), np.arange(30) % 3, (np.arange(30) + 1) % 3 * (
                np.arange(30) % 5 == 0) + np.arange(30) % 3 * (np.arange(30) % 5 != 0),
            np.arange(30), ["a", "b", "c"], [0.3, 0.2], selected=4, title="t", style=s),
        "activations.activation_curves": lambda s: activations.activation_curves(
            {"relu": (x, np.maximum(x, 0), (x > 0) * 1.0)}, title="t", style=s),
        "convolution.conv_step": lambda s: convolution.conv_step(
            conv_steps(RNG.random((5, 5)), kernel, padding=1), kernel, 3, title="t", style=s),
        "deeper.degradation_curves": lambda s: deeper.degradation_curves(
            NS(plain=_depth_run(1.0), residual=_depth_run(2.0)), title="t", style=s),
        "deeper.bottleneck_bars": lambda s: deeper.bottleneck_bars(
            NS(channels=64, width=16, basic_params=73856, bottleneck_params=2048,
               basic_macs=10 ** 6, bottleneck_macs=10 ** 5), title="t", style=s),
        "dice.dice_bars": lambda s: dice.dice_bars(uniform_die(6), dice_sum(6, 2),
                                                   highlight=7, title="t", style=s),
        "grids.heatmaps": lambda s: grids.heatmaps(
            [RNG.random((4, 4)), RNG.normal(size=(10, 10))], ["a", "b"], [False, True],
            title="t", style=s),
        "grids.grids": lambda s: grids.grids(
            [RNG.random((4, 4)), RNG.normal(size=(3, 3))], ["a", "b"], [False, True],
            title="t", style=s),
        "grids.gradient_maps": lambda s: grids.gradient_maps(
            [RNG.normal(size=(3, 3))], ["g"], title="t", show_values=True, style=s),
        "invariance.robustness": lambda s: invariance.robustness([curves], title="t", style=s),
        "invariance.probe_strip": lambda s: invariance.probe_strip(
            _sweep(), 1, "°", title="t", style=s),
        "invariance.probe_confidence": lambda s: invariance.probe_confidence(
            {"m": _sweep()}, 1, "angle", title="t", style=s),
        "normalisation.channel_bars": lambda s: normalisation.channel_bars(
            ["c0", "c1"], {"mean": np.array([0.1, -0.2]), "var": np.array([1.0, 0.9])},
            title="t", style=s),
        "pooling.shift_curves": lambda s: pooling.shift_curves(
            NS(shifts=[0, 1, 2], change_conv=[0, 0.5, 0.7], change_max=[0, 0.2, 0.4],
               change_avg=[0, 0.1, 0.3]), title="t", style=s),
        "pooling.model_shift_curves": lambda s: pooling.model_shift_curves(
            [model_shift], title="t", style=s),
        "receptive_fields.receptive_growth": lambda s: receptive_fields.receptive_growth(
            {"3x3": rf_rows([(3, 1, 1)] * 3)}, title="t", style=s),
        "receptive_fields.receptive_window": lambda s: receptive_fields.receptive_window(
            9, 5, title="t", style=s),
        "signals.signal_filter": lambda s: signals.signal_filter(
            x, np.convolve(x, [0.25, 0.5, 0.25], "same"), np.array([0.25, 0.5, 0.25]), 5,
            correlation=x, title="t", style=s),
        "transposed.overlap_map": lambda s: transposed.overlap_map(
            np.ones((6, 6)), title="t", style=s),
        "weight_sharing.count_bars": lambda s: weight_sharing.count_bars(
            ["parameters", "connections"], [9, 576], [4096, 4096], title="t", style=s),
    }


CASES = _cases()


def _public_builders() -> set[str]:
    """Every public function of the figure modules that returns a figure."""
    found = set()
    for module in MODULES:
        short = module.__name__.rsplit(".", 1)[-1]
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if (function.__module__ == module.__name__ and not name.startswith("_")
                    and "Figure" in str(inspect.signature(function).return_annotation)):
                found.add(f"{short}.{name}")
    return found


def test_every_public_builder_has_a_case():
    assert _public_builders() == set(CASES)


# --- walking a built figure ---------------------------------------------------------------

def _size(font: dict | None, fallback: float) -> float:
    return (font or {}).get("size") or fallback


def _axes(layout: dict) -> Iterator[tuple[str, dict]]:
    for name, axis in layout.items():
        if name[1:5] == "axis" and isinstance(axis, dict):
            yield name, axis


def text_sizes(figure: go.Figure) -> Iterator[tuple[str, float]]:
    """(where, px) of every piece of text the figure draws. Unset fonts inherit the
    chart font, which must be set; titles must set theirs (plotly would enlarge them)."""
    full = figure.to_dict()
    layout, base = full["layout"], full["layout"].get("font", {}).get("size")
    assert base, "the chart font size is not set"
    title = layout.get("title", {})
    if title.get("text"):
        yield "title", title.get("font", {}).get("size", 0)
    for name, axis in _axes(layout):
        if axis.get("visible") is not False and axis.get("showticklabels") is not False:
            yield f"{name} ticks", _size(axis.get("tickfont"), base)
        if (axis.get("title") or {}).get("text"):
            yield f"{name} title", axis["title"].get("font", {}).get("size", 0)
    if any(trace.get("showlegend", True) is not False and trace.get("name")
           for trace in full["data"]):
        yield "legend", _size(layout.get("legend", {}).get("font"), base)
    for n, note in enumerate(layout.get("annotations", ())):
        yield f"annotation {n} {note.get('text')!r}", _size(note.get("font"), base)
    for n, trace in enumerate(full["data"]):
        where = f"trace {n} ({trace['type']})"
        if trace["type"] == "heatmap" and trace.get("showscale", True) is not False:
            bar = trace.get("colorbar", {})
            yield f"{where} colour bar ticks", _size(bar.get("tickfont"), base)
            if (bar.get("title") or {}).get("text"):
                yield f"{where} colour bar title", _size(bar["title"].get("font"), base)
        shows_text = trace.get("texttemplate") or (
            trace.get("text") is not None and trace["type"] in ("bar", "scatter")
            and (trace["type"] == "bar" or "text" in trace.get("mode", "")))
        if shows_text:
            yield f"{where} text", _size(trace.get("textfont"), base)


# Outlines drawn as scatter lines that must stay thin to leave the picture visible.
THIN_TRACES = {"windows"}


def curve_widths(figure: go.Figure) -> Iterator[tuple[str, float]]:
    """(where, px) of every scatter line (plotly draws an unset width at 2 px)."""
    for n, trace in enumerate(figure.to_dict()["data"]):
        mode = trace.get("mode", "lines")
        if trace["type"] == "scatter" and "lines" in mode \
                and trace.get("name") not in THIN_TRACES:
            yield f"trace {n} {trace.get('name')!r}", (trace.get("line") or {}).get("width", 2)


@pytest.mark.parametrize("name", sorted(CASES))
def test_presentation_text_and_curves_read_from_the_back_of_the_hall(name):
    figure = CASES[name](PRESENTATION)
    small = [(where, px) for where, px in text_sizes(figure) if px < MIN_TEXT_PX]
    thin = [(where, px) for where, px in curve_widths(figure) if px < MIN_CURVE_PX]
    assert not small, small
    assert not thin, thin


@pytest.mark.parametrize("name", sorted(CASES))
def test_presentation_figures_are_taller_than_default_ones(name):
    default, present = CASES[name](DEFAULT), CASES[name](PRESENTATION)
    assert present.layout.height > default.layout.height


DEFAULT_TEXT_PX = {DEFAULT.font_size, DEFAULT.title_size, DEFAULT.tick_size,
                   DEFAULT.legend_size, DEFAULT.label_size, DEFAULT.caption_size,
                   DEFAULT.note_size, DEFAULT.font_size - 1, DEFAULT.font_size - 4}


@pytest.mark.parametrize("name", sorted(CASES))
def test_default_figures_keep_their_everyday_sizes(name):
    figure = CASES[name](DEFAULT)
    assert {px for _, px in text_sizes(figure)} <= DEFAULT_TEXT_PX
    assert all(px <= 2 * DEFAULT.line_width for _, px in curve_widths(figure))


def test_style_for_picks_the_presentation_style():
    assert style_for(True) is PRESENTATION and style_for(False) is DEFAULT
    assert PRESENTATION.decimals < DEFAULT.decimals
    assert PRESENTATION.height_scale > 1


def test_presentation_prints_fewer_decimals_in_grid_cells():
    values = [np.full((3, 3), 0.123456)]
    default = grids.heatmaps(values, ["a"], [True]).data[0].texttemplate
    present = grids.heatmaps(values, ["a"], [True], style=PRESENTATION).data[0].texttemplate
    assert default == "%{z:.2f}" and present == f"%{{z:.{PRESENTATION.decimals}f}}"


def test_gradient_norm_axis_labels_only_decades():
    """A log axis labels 1, 2, 5 within each decade by default ("5, 2, 1, 5, 2, 0.1"): the
    gradient-norm panel must label powers of ten only."""
    figure = CASES["training.norm_curves"](DEFAULT)
    axis = figure.layout.yaxis2
    assert axis.type == "log"
    assert axis.dtick == 1 and axis.exponentformat == "power"



def _outline_widths(figure: go.Figure) -> list[float]:
    widths = [shape.line.width for shape in figure.layout.shapes]
    widths += [note.arrowwidth for note in figure.layout.annotations if note.showarrow]
    return widths


def test_the_network_diagram_draws_its_outlines_bolder_when_presenting():
    """Its outlines and arrows follow the style's line width, as the charts' curves do."""
    analysis = analyze(load_preset("resnet_cifar10"))
    default = diagram.network_figure(analysis)
    present = diagram.network_figure(analysis, style=PRESENTATION)
    assert min(_outline_widths(present)) > max(_outline_widths(default)) / 2
    assert min(_outline_widths(present)) >= 0.75 * PRESENTATION.line_width
    assert min(_outline_widths(default)) == 0.75 * DEFAULT.line_width


def test_the_network_diagram_makes_room_for_bigger_labels():
    """The labels' band under the blocks and the gaps between their lines grow with the
    text, so presented labels neither overlap each other nor the blocks."""
    analysis = analyze(load_preset("lenet5"))
    default = diagram.network_figure(analysis)
    present = diagram.network_figure(analysis, style=PRESENTATION)

    def shifts(figure):
        return sorted({-note.yshift for note in figure.layout.annotations if note.yshift})

    assert all(p > d for p, d in zip(shifts(present), shifts(default)))
