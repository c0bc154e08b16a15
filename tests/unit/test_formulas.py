"""The formulas shown to students arrive at exactly the numbers the real modules give."""
from __future__ import annotations

import pytest

from playground.model import formulas as F
from playground.model import build as M
from playground import spec as S
from playground.presets import load_preset, preset_names


def odd_network() -> S.ModelSpec:
    """Every layer type, non-square input, dilation, strides, bottleneck and projection."""
    L = S.make_layer
    return S.ModelSpec(name="odd", input=(3, 20, 24), num_classes=7, layers=[
        L("conv", out_channels=4, kernel_size=3, dilation=2, stride=2, padding=1),
        L("batchnorm"), L("leaky_relu"),
        L("maxpool", kernel_size=3, stride=2, padding=1),
        L("residual", out_channels=4),
        L("residual", out_channels=8, stride=2, bottleneck_width=4),
        L("conv", out_channels=6, kernel_size=1, bias=False),
        L("avgpool", kernel_size=2), L("gelu"), L("sigmoid"),
        L("flatten"), L("batchnorm"), L("dropout", p=0.2),
        L("linear", out_features=12), L("tanh"), L("relu")])


def gap_network() -> S.ModelSpec:
    L = S.make_layer
    return S.ModelSpec(name="gap", input=(1, 28, 28), num_classes=10, layers=[
        L("conv", out_channels=8, kernel_size=3), L("global_avgpool")])


NETWORKS = [load_preset(name) for name in preset_names()] + [odd_network(), gap_network()]


@pytest.mark.parametrize("network", NETWORKS, ids=lambda n: n.name)
def test_every_formula_matches_the_analysis(network):
    analysis = M.analyze(network)
    explained = F.explain(analysis)
    assert len(explained) == len(analysis.layers)
    for row in explained:
        info = row.info
        assert F.output_shape(info) == info.output_shape, info
        assert row.params.value == info.params, (info, row.params)
        assert row.macs.value == info.macs, (info, row.macs)
        assert row.receptive_field.value == info.receptive_field, (info, row.receptive_field)
        assert row.jump.value == info.jump, (info, row.jump)
        for formula in [*row.output, row.params, row.macs]:
            if formula.value is None:  # shape-keeping layers: "[6, 28, 28] unchanged"
                assert formula.filled == f"{list(info.output_shape)} unchanged"
                continue
            # the filled-in text ends in the very number it explains
            assert formula.filled.replace(",", "").endswith(str(formula.value)), formula
        if info.receptive_field is not None:
            assert row.receptive_field.filled.endswith(f"= {info.receptive_field}")
    assert F.total_params(analysis).value == analysis.total_params
    assert F.total_params(analysis).filled.endswith(f"= {analysis.total_params:,}")
    assert F.total_macs(analysis).value == analysis.total_macs
    memory = F.activation_memory(analysis, 32)
    assert memory.value == analysis.activation_floats * 32 * 4


def test_lenet_numbers_read_as_in_the_lecture():
    explained = F.explain(M.analyze(load_preset("lenet5")))
    first, pool = explained[0], explained[2]
    assert first.output[1].filled == "floor((28 + 2*2 - 5)/1) + 1 = 28"
    assert first.params.filled == "6*1*5*5 + 6 = 156"
    assert pool.receptive_field.filled == "5 + (2-1)*1 = 6"
    assert pool.jump.filled == "1*2 = 2"
    assert first.fully_connected.filled == "784 x 4,704 = 3,687,936"
    assert "against 150 shared weights" in first.fully_connected.note
    assert explained[7].params.filled == "120*400 + 120 = 48,120"
    assert explained[6].output[0].filled == "16*5*5 = 400"
    assert explained[6].receptive_field.value is None


def test_dilation_uses_the_general_formula():
    row = F.explain(M.analyze(odd_network()))[0]
    assert row.output[1].general == "floor((H + 2*P - D*(K-1) - 1)/S) + 1"
    assert row.output[1].filled == "floor((20 + 2*1 - 2*(3-1) - 1)/2) + 1 = 9"
    assert row.output[2].filled.startswith("floor((24 + ")  # width differs: its own line
    assert row.receptive_field.filled == "k_eff = 3 + (3-1)*(2-1) = 5; 1 + (5-1)*1 = 5"


def test_residual_block_formulas():
    explained = F.explain(M.analyze(load_preset("resnet_cifar10")))
    identity, projected = explained[3], explained[4]
    assert not F.projection(identity.info) and F.projection(projected.info)
    assert identity.params.filled == "16*16*3*3 + 2*16 + 16*16*3*3 + 2*16 = 4672"
    assert "32*16*1*1" in projected.params.filled  # the shortcut's 1x1 projection
    assert projected.receptive_field.filled == "7 + (3-1)*1 + (3-1)*2 = 13"
    assert explained[-1].info.auto and explained[-1].params.value == 650


def test_activation_memory_for_one_batch():
    analysis = M.analyze(load_preset("lenet5"))
    memory = F.activation_memory(analysis, 128)
    assert memory.value == 15_002 * 128 * 4
    assert memory.filled == "15,002 * 128 * 4 = 7,681,024 bytes (7.3 MB)"
