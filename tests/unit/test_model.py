"""Spec -> module, the per-layer analysis (DESIGN.md "Analysis"), and exported PyTorch code."""
from __future__ import annotations

import ast
import importlib.util
import io
import json
import runpy
import tokenize
from pathlib import Path

import pytest
import torch
from torch import nn

from playground.model import build as M
from playground import spec as S
from playground.model.blocks import ResidualBlock

PRESET_DIR = Path(__file__).resolve().parents[2] / "assets" / "presets"
PRESETS = sorted(PRESET_DIR.glob("*.json"))


def make_spec(layers: list[dict], input=(1, 28, 28), num_classes=10, **extra) -> S.ModelSpec:
    return S.parse_spec({"version": 1, "name": "test", "input": list(input),
                         "num_classes": num_classes, "layers": layers, **extra})


def analysis_error(layers: list[dict], **kwargs) -> str:
    model_spec = make_spec(layers, **kwargs)
    with pytest.raises(S.SpecError) as caught:
        M.analyze(model_spec)
    return str(caught.value)


def conv_params(c_in, c_out, k, bias=True):
    return c_in * c_out * k * k + (c_out if bias else 0)


def bn_params(c):
    return 2 * c  # weight and bias; running statistics are buffers, not parameters


def rf_by_hand(windows):
    """r_out = r_in + (k_eff - 1) * j_in, j_out = j_in * s over (k, s, d) triples."""
    r, j, out = 1, 1, []
    for k, s, d in windows:
        r += (k + (k - 1) * (d - 1) - 1) * j
        j *= s
        out.append((r, j))
    return out


@pytest.fixture(scope="module")
def lenet():
    model_spec = S.load_spec(PRESET_DIR / "lenet5.json")
    return model_spec, M.analyze(model_spec)


# --- LeNet-5, by hand ------------------------------------------------------------------

def test_lenet_total_params(lenet):
    _, analysis = lenet
    by_hand = (conv_params(1, 6, 5) + conv_params(6, 16, 5)
               + 400 * 120 + 120 + 120 * 84 + 84 + 84 * 10 + 10)
    assert by_hand == 61_706
    assert analysis.total_params == 61_706
    assert analysis.output_shape == (10,)


def test_lenet_per_layer(lenet):
    _, analysis = lenet
    table = [(i.index, i.type, i.output_shape, i.params, i.receptive_field, i.jump, i.auto)
             for i in analysis.layers]
    assert table == [
        (0, "conv", (6, 28, 28), 156, 5, 1, False),
        (1, "tanh", (6, 28, 28), 0, 5, 1, False),
        (2, "avgpool", (6, 14, 14), 0, 6, 2, False),
        (3, "conv", (16, 10, 10), 2416, 14, 2, False),
        (4, "tanh", (16, 10, 10), 0, 14, 2, False),
        (5, "avgpool", (16, 5, 5), 0, 16, 4, False),
        (6, "flatten", (400,), 0, None, None, False),
        (7, "linear", (120,), 48120, None, None, False),
        (8, "tanh", (120,), 0, None, None, False),
        (9, "linear", (84,), 10164, None, None, False),
        (10, "tanh", (84,), 0, None, None, False),
        (11, "linear", (10,), 850, None, None, False),
    ]
    # the spatial ones follow the formula over conv 5, pool 2, conv 5, pool 2
    assert [(r, j) for r, j in rf_by_hand([(5, 1, 1), (2, 2, 1), (5, 1, 1), (2, 2, 1)])] == [
        (5, 1), (6, 2), (14, 2), (16, 4)]


def test_lenet_input_shapes_chain(lenet):
    model_spec, analysis = lenet
    assert analysis.layers[0].input_shape == tuple(model_spec.input)
    for before, after in zip(analysis.layers, analysis.layers[1:]):
        assert after.input_shape == before.output_shape


def test_lenet_macs(lenet):
    _, analysis = lenet
    assert analysis.layers[0].macs == 6 * 28 * 28 * 25 == 117_600
    assert analysis.layers[3].macs == 16 * 10 * 10 * 6 * 25
    assert analysis.layers[7].macs == 400 * 120
    assert analysis.total_macs == sum(i.macs for i in analysis.layers)


def test_lenet_has_no_auto_head(lenet):
    _, analysis = lenet
    assert not any(info.auto for info in analysis.layers)


# --- receptive fields, strides, dilation ------------------------------------------------

def test_dilated_conv_receptive_field():
    analysis = M.analyze(make_spec([{"type": "conv", "out_channels": 2, "kernel_size": 3,
                                     "dilation": 2}]))
    first = analysis.layers[0]
    assert (first.receptive_field, first.jump) == (5, 1)
    assert first.output_shape == (2, 24, 24)  # 28 - 5 + 1


def test_receptive_field_matches_formula_on_a_mixed_stack():
    layers = [
        {"type": "conv", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "relu"},
        {"type": "conv", "out_channels": 4, "kernel_size": 3, "dilation": 3, "padding": 3},
        {"type": "maxpool", "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "conv", "out_channels": 4, "kernel_size": 5, "stride": 3, "dilation": 2,
         "padding": 4},
        {"type": "avgpool", "kernel_size": 2},
        {"type": "conv", "out_channels": 4, "kernel_size": 1},
    ]
    analysis = M.analyze(make_spec(layers, input=(1, 96, 96)))
    expected = rf_by_hand([(3, 2, 1), (3, 1, 3), (3, 2, 1), (5, 3, 2), (2, 2, 1), (1, 1, 1)])
    got = [(i.receptive_field, i.jump) for i in analysis.layers if i.type != "relu"][:6]
    assert got == expected
    assert expected == [(3, 2), (15, 2), (19, 4), (51, 12), (63, 24), (63, 24)]
    # jump is the product of the strides so far
    assert analysis.layers[5].jump == 2 * 1 * 2 * 3 * 2
    # the activation keeps its input's receptive field
    assert (analysis.layers[1].receptive_field, analysis.layers[1].jump) == (3, 2)


def test_output_sizes_follow_torch_formula():
    # floor((H + 2p - d(k-1) - 1) / s) + 1
    analysis = M.analyze(make_spec([
        {"type": "conv", "out_channels": 3, "kernel_size": 4, "stride": 3, "padding": 2,
         "dilation": 2}], input=(1, 31, 20)))
    assert analysis.layers[0].output_shape == (3, (31 + 4 - 6 - 1) // 3 + 1,
                                               (20 + 4 - 6 - 1) // 3 + 1)


def test_receptive_field_is_null_once_flat():
    analysis = M.analyze(make_spec([
        {"type": "conv", "out_channels": 4, "kernel_size": 3},
        {"type": "global_avgpool"},
        {"type": "linear", "out_features": 16},
    ]))
    assert analysis.layers[0].receptive_field == 3
    for info in analysis.layers[1:]:
        assert (info.receptive_field, info.jump) == (None, None)


def _residual_analysis(block: dict, channels=16, size=16):
    layers = [{"type": "conv", "out_channels": channels, "kernel_size": 1}, block]
    return M.analyze(make_spec(layers, input=(3, size, size)))


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_basic_residual_receptive_field(stride):
    # after a 1x1 conv (r 1, j 1): 3x3 at stride s adds 2*1, then the 3x3 at stride 1
    # sees the jump s: adds 2*s
    info = _residual_analysis({"type": "residual", "out_channels": 16,
                               "stride": stride}).layers[1]
    assert (info.receptive_field, info.jump) == (1 + 2 + 2 * stride, stride)


def test_basic_residual_after_a_stride():
    # j_in = 2: the block adds 2*2 and then 2*(2*s)
    layers = [{"type": "conv", "out_channels": 8, "kernel_size": 2, "stride": 2},
              {"type": "residual", "out_channels": 8, "stride": 2},
              {"type": "residual", "out_channels": 8}]
    analysis = M.analyze(make_spec(layers, input=(3, 32, 32)))
    r0, j0 = 2, 2
    r1, j1 = r0 + 2 * j0 + 2 * (j0 * 2), j0 * 2
    r2, j2 = r1 + 2 * j1 + 2 * j1, j1
    assert [(i.receptive_field, i.jump) for i in analysis.layers[:3]] == [
        (r0, j0), (r1, j1), (r2, j2)]
    assert (r1, r2) == (14, 30)
    assert rf_by_hand([(2, 2, 1), (3, 2, 1), (3, 1, 1), (3, 1, 1), (3, 1, 1)])[2::2] == [
        (r1, j1), (r2, j2)]


@pytest.mark.parametrize("stride", [1, 2])
def test_bottleneck_residual_receptive_field(stride):
    # only the 3x3 counts: the 1x1 convs add nothing
    info = _residual_analysis({"type": "residual", "out_channels": 32, "stride": stride,
                               "bottleneck_width": 8}).layers[1]
    assert (info.receptive_field, info.jump) == (3, stride)


# --- residual blocks: shortcuts and parameter counts -------------------------------------

def test_basic_block_identity_shortcut():
    block = ResidualBlock(16, 16)
    assert isinstance(block.shortcut, nn.Identity)
    expected = 2 * conv_params(16, 16, 3, bias=False) + 2 * bn_params(16)
    assert sum(p.numel() for p in block.parameters()) == expected == 4672
    info = _residual_analysis({"type": "residual", "out_channels": 16}).layers[1]
    assert info.params == expected
    assert info.output_shape == (16, 16, 16)


@pytest.mark.parametrize("c_in, c_out, stride", [(16, 16, 2), (16, 32, 1), (16, 32, 2)])
def test_basic_block_projection_shortcut(c_in, c_out, stride):
    block = ResidualBlock(c_in, c_out, stride=stride)
    assert not isinstance(block.shortcut, nn.Identity)
    projection = [m for m in block.shortcut.modules() if isinstance(m, nn.Conv2d)]
    assert len(projection) == 1
    assert projection[0].kernel_size == (1, 1) and projection[0].stride == (stride, stride)
    assert projection[0].bias is None
    expected = (conv_params(c_in, c_out, 3, bias=False) + bn_params(c_out)
                + conv_params(c_out, c_out, 3, bias=False) + bn_params(c_out)
                + conv_params(c_in, c_out, 1, bias=False) + bn_params(c_out))
    assert sum(p.numel() for p in block.parameters()) == expected
    info = _residual_analysis({"type": "residual", "out_channels": c_out, "stride": stride},
                              channels=c_in).layers[1]
    assert info.params == expected
    assert info.output_shape == (c_out, -(-16 // stride), -(-16 // stride))


def test_resnet_preset_params_by_hand():
    analysis = M.analyze(S.load_spec(PRESET_DIR / "resnet_cifar10.json"))
    stem = conv_params(3, 16, 3, bias=False) + bn_params(16)
    block1 = 2 * conv_params(16, 16, 3, False) + 2 * bn_params(16)
    block2 = (conv_params(16, 32, 3, False) + conv_params(32, 32, 3, False)
              + conv_params(16, 32, 1, False) + 3 * bn_params(32))
    block3 = (conv_params(32, 64, 3, False) + conv_params(64, 64, 3, False)
              + conv_params(32, 64, 1, False) + 3 * bn_params(64))
    head = 64 * 10 + 10
    assert [i.params for i in analysis.layers] == [432, 32, 0, block1, block2, block3, 0, head]
    assert analysis.total_params == stem + block1 + block2 + block3 + head == 78_042
    assert [(i.receptive_field, i.jump) for i in analysis.layers[:6]] == [
        (3, 1), (3, 1), (3, 1), (7, 1), (13, 2), (25, 4)]
    assert analysis.layers[6].output_shape == (64,)


def test_bottleneck_params_256_64_256():
    block = ResidualBlock(256, 256, bottleneck_width=64)
    assert isinstance(block.shortcut, nn.Identity)
    expected = (256 * 64 + 64 * 64 * 9 + 64 * 256
                + bn_params(64) + bn_params(64) + bn_params(256))
    assert expected == 70_400
    assert sum(p.numel() for p in block.parameters()) == expected
    convs = [m for m in block.body if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(1, 1), (3, 3), (1, 1)]
    assert all(c.bias is None for c in convs)
    info = _residual_analysis({"type": "residual", "out_channels": 256,
                               "bottleneck_width": 64}, channels=256, size=8).layers[1]
    assert info.params == expected
    assert info.output_shape == (256, 8, 8)


def test_bottleneck_projection_and_stride_on_the_3x3():
    block = ResidualBlock(64, 128, stride=2, bottleneck_width=32)
    assert not isinstance(block.shortcut, nn.Identity)
    convs = [m for m in block.body if isinstance(m, nn.Conv2d)]
    assert [c.stride for c in convs] == [(1, 1), (2, 2), (1, 1)]
    expected = (64 * 32 + 32 * 32 * 9 + 32 * 128 + bn_params(32) * 2 + bn_params(128)
                + 64 * 128 + bn_params(128))
    assert sum(p.numel() for p in block.parameters()) == expected


def test_residual_block_forward_adds_the_shortcut():
    torch.manual_seed(0)
    block = ResidualBlock(4, 4).eval()
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        assert torch.allclose(block(x), torch.relu(block.body(x) + x))
        projected = ResidualBlock(4, 8, stride=2).eval()
        y = projected(x)
        assert y.shape == (2, 8, 3, 3)
        assert torch.allclose(y, torch.relu(projected.body(x) + projected.shortcut(x)))


# --- the automatic head -------------------------------------------------------------

def test_head_on_spatial_output():
    analysis = M.analyze(make_spec([{"type": "conv", "out_channels": 4, "kernel_size": 3},
                                    {"type": "relu"}], num_classes=7))
    assert [(i.index, i.type, i.auto, i.output_shape) for i in analysis.layers] == [
        (0, "conv", False, (4, 26, 26)), (1, "relu", False, (4, 26, 26)),
        (2, "flatten", True, (4 * 26 * 26,)), (3, "linear", True, (7,))]
    assert analysis.layers[3].params == 4 * 26 * 26 * 7 + 7
    assert analysis.total_params == 4 * 9 + 4 + 4 * 26 * 26 * 7 + 7


def test_head_with_no_layers():
    analysis = M.analyze(make_spec([], input=(3, 8, 8), num_classes=5))
    assert [(i.index, i.type, i.auto) for i in analysis.layers] == [
        (0, "flatten", True), (1, "linear", True)]
    assert analysis.total_params == 3 * 8 * 8 * 5 + 5
    assert analysis.output_shape == (5,)


def test_head_on_flat_output_of_other_size():
    analysis = M.analyze(make_spec([{"type": "flatten"}, {"type": "linear",
                                                         "out_features": 32}]))
    assert [(i.index, i.type, i.auto) for i in analysis.layers] == [
        (0, "flatten", False), (1, "linear", False), (2, "linear", True)]
    assert analysis.layers[2].params == 32 * 10 + 10
    assert analysis.output_shape == (10,)


def test_no_head_when_flat_output_is_num_classes():
    analysis = M.analyze(make_spec([{"type": "flatten"}, {"type": "linear",
                                                         "out_features": 10},
                                    {"type": "dropout"}]))
    assert not any(i.auto for i in analysis.layers)
    assert len(analysis.layers) == 3


def test_global_avgpool_is_flat_and_gets_one_linear():
    analysis = M.analyze(make_spec([{"type": "conv", "out_channels": 12, "kernel_size": 3},
                                    {"type": "global_avgpool"}]))
    assert analysis.layers[1].output_shape == (12,)
    assert analysis.layers[1].params == 0
    assert [(i.type, i.auto) for i in analysis.layers[2:]] == [("linear", True)]
    exact = M.analyze(make_spec([{"type": "conv", "out_channels": 10, "kernel_size": 3},
                                 {"type": "global_avgpool"}]))
    assert [i.type for i in exact.layers] == ["conv", "global_avgpool"]


def test_batchnorm_picks_its_dimension():
    analysis = M.analyze(make_spec([
        {"type": "conv", "out_channels": 6, "kernel_size": 3}, {"type": "batchnorm"},
        {"type": "flatten"}, {"type": "linear", "out_features": 20}, {"type": "batchnorm"}]))
    assert analysis.layers[1].recipe.factory == "nn.BatchNorm2d"
    assert analysis.layers[4].recipe.factory == "nn.BatchNorm1d"
    assert analysis.layers[1].params == 12 and analysis.layers[4].params == 40
    assert analysis.layers[4].output_shape == (20,)


def test_head_helper():
    assert [type(x) for x in M.head_layers((3, 4, 4), 10)] == [S.Flatten, S.Linear]
    assert M.head_layers((3, 4, 4), 10)[1].out_features == 10
    assert [x.out_features for x in M.head_layers((7,), 10)] == [10]
    assert M.head_layers((10,), 10) == []


# --- shape errors ----------------------------------------------------------------------

def test_kernel_larger_than_padded_input():
    layers = [{"type": "conv", "out_channels": 4, "kernel_size": 5},   # 28 -> 24
              {"type": "maxpool", "kernel_size": 4},                    # 24 -> 6
              {"type": "conv", "out_channels": 4, "kernel_size": 2},    # 6 -> 5
              {"type": "conv", "out_channels": 4, "kernel_size": 7}]
    assert analysis_error(layers) == (
        "error: layer 3 (conv): kernel_size 7 is larger than the padded input 5x5"
        .removeprefix("error: "))


def test_padding_counts_toward_the_window():
    layers = [{"type": "conv", "out_channels": 4, "kernel_size": 7, "padding": 1}]
    assert analysis_error(layers, input=(1, 4, 5)) == (
        "layer 0 (conv): kernel_size 7 is larger than the padded input 6x7")
    ok = M.analyze(make_spec([{"type": "conv", "out_channels": 4, "kernel_size": 7,
                               "padding": 1}], input=(1, 5, 5)))
    assert ok.layers[0].output_shape == (4, 1, 1)


def test_dilated_kernel_too_large():
    assert analysis_error([{"type": "conv", "out_channels": 4, "kernel_size": 3,
                            "dilation": 2}], input=(1, 4, 4)) == (
        "layer 0 (conv): dilated kernel 5 (kernel_size 3, dilation 2) is larger than the "
        "padded input 4x4")


def test_pool_window_too_large():
    assert analysis_error([{"type": "relu"}, {"type": "maxpool", "kernel_size": 5}],
                          input=(1, 4, 9)) == (
        "layer 1 (maxpool): kernel_size 5 is larger than the padded input 4x9")


def test_linear_on_spatial_input_suggests_flatten():
    message = analysis_error([{"type": "conv", "out_channels": 4, "kernel_size": 3},
                              {"type": "linear", "out_features": 10}])
    assert message.startswith("layer 1 (linear): ")
    assert "[4, 26, 26]" in message
    assert "add a flatten" in message


@pytest.mark.parametrize("layer", [
    {"type": "conv", "out_channels": 4, "kernel_size": 3},
    {"type": "maxpool", "kernel_size": 2},
    {"type": "avgpool", "kernel_size": 2},
    {"type": "residual", "out_channels": 4},
    {"type": "global_avgpool"},
])
def test_spatial_layer_after_flatten(layer):
    message = analysis_error([{"type": "flatten"}, {"type": "relu"}, layer])
    assert message.startswith(f"layer 2 ({layer['type']}): ")
    assert "spatial" in message and "[784]" in message and "flatten" in message


def test_params_limit_names_the_layer_where_it_is_crossed():
    layers = [{"type": "flatten"}, {"type": "linear", "out_features": 4096},
              {"type": "linear", "out_features": 4096},  # 17,833,984 so far: still fine
              {"type": "relu"},
              {"type": "linear", "out_features": 4096}]
    fine = M.analyze(make_spec(layers[:3], input=(1, 16, 16)))
    assert fine.total_params == 256 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 10 + 10
    assert fine.total_params < 20_000_000
    message = analysis_error(layers, input=(1, 16, 16))
    total = 256 * 4096 + 4096 + 2 * (4096 * 4096 + 4096)
    assert message == (f"layer 4 (linear): the network reaches {total:,} parameters here, "
                       "over the limit of 20,000,000")
    # exactly at the limit is allowed: a custom limit shows the boundary
    limits = S.Limits(max_params=fine.total_params)
    assert M.analyze(make_spec(layers[:3], input=(1, 16, 16)), limits).total_params == (
        limits.max_params)
    with pytest.raises(S.SpecError, match=r"^layer 3 \(linear\): the network reaches"):
        M.analyze(make_spec(layers[:3], input=(1, 16, 16)),
                  S.Limits(max_params=fine.total_params - 1))


def test_params_limit_in_the_auto_head():
    layers = [{"type": "conv", "out_channels": 512, "kernel_size": 1}]
    message = analysis_error(layers, input=(3, 64, 64), num_classes=10)
    assert message.startswith("layer 2 (linear): the network reaches ")
    assert "over the limit of 20,000,000" in message


def test_analysis_errors_do_not_break_a_good_spec_later():
    with pytest.raises(S.SpecError):
        M.analyze(make_spec([{"type": "flatten"}, {"type": "conv", "out_channels": 1,
                                                   "kernel_size": 1}]))
    assert M.analyze(make_spec([])).total_params == 7850


# --- build_model -----------------------------------------------------------------------

@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_build_model_forward_and_names(path):
    model_spec = S.load_spec(path)
    analysis = M.analyze(model_spec)
    network = M.build_model(model_spec, generator=torch.Generator().manual_seed(0))
    assert [name for name, _ in network.named_children()] == [
        str(i) for i in range(len(analysis.layers))]
    keys = set(network.state_dict())
    first_param = next(i for i in analysis.layers if i.params)
    assert f"{first_param.index}.weight" in keys
    assert sum(p.numel() for p in network.parameters()) == analysis.total_params
    assert all(p.device.type == "cpu" and not p.is_meta for p in network.parameters())
    assert all(not b.is_meta for b in network.buffers())
    network.eval()
    with torch.no_grad():
        logits = network(torch.randn(3, *model_spec.input))
    assert logits.shape == (3, model_spec.num_classes)
    assert torch.isfinite(logits).all()
    # each child's real output matches the analysed shape
    x = torch.randn(2, *model_spec.input)
    with torch.no_grad():
        for info, child in zip(analysis.layers, network):
            x = child(x)
            assert tuple(x.shape[1:]) == info.output_shape


def test_lenet_state_dict_keys(lenet):
    model_spec, _ = lenet
    keys = list(M.build_model(model_spec).state_dict())
    assert keys == ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias",
                    "9.weight", "9.bias", "11.weight", "11.bias"]


def test_auto_head_modules_follow_spec_layers():
    model_spec = make_spec([{"type": "conv", "out_channels": 2, "kernel_size": 3}])
    network = M.build_model(model_spec)
    assert isinstance(network[1], nn.Flatten) and isinstance(network[2], nn.Linear)
    assert set(network.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_built_modules_match_the_spec():
    model_spec = make_spec([
        {"type": "conv", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1,
         "dilation": 2, "bias": False},
        {"type": "leaky_relu", "negative_slope": 0.2}, {"type": "dropout", "p": 0.25},
        {"type": "avgpool", "kernel_size": 3, "padding": 1}])
    network = M.build_model(model_spec)
    conv = network[0]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
            conv.dilation, conv.bias) == (1, 4, (3, 3), (2, 2), (1, 1), (2, 2), None)
    assert network[1].negative_slope == 0.2
    assert isinstance(network[2], nn.Dropout) and network[2].p == 0.25
    assert (network[3].kernel_size, network[3].stride, network[3].padding) == (3, 3, 1)


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_same_seed_same_weights(path):
    model_spec = S.load_spec(path)
    analysis = M.analyze(model_spec)
    a = M.build_model(model_spec, generator=torch.Generator().manual_seed(1),
                      analysis=analysis).state_dict()
    torch.manual_seed(123)  # the global RNG must not matter
    b = M.build_model(model_spec, generator=torch.Generator().manual_seed(1),
                      analysis=analysis).state_dict()
    c = M.build_model(model_spec, generator=torch.Generator().manual_seed(2),
                      analysis=analysis).state_dict()
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    weights = [k for k in a if k.endswith("weight") and a[k].dim() > 1]
    assert weights
    assert all(not torch.equal(a[k], c[k]) for k in weights)


def test_init_matches_pytorch_default_ranges():
    model_spec = make_spec([{"type": "flatten"}, {"type": "linear", "out_features": 50}])
    network = M.build_model(model_spec, generator=torch.Generator().manual_seed(0))
    bound = 1 / 784 ** 0.5  # kaiming_uniform(a=sqrt(5)) and the bias: U(-1/sqrt(fan_in), ..)
    assert network[1].weight.abs().max() <= bound
    assert network[1].bias.abs().max() <= bound
    assert network[1].weight.std() > bound / 3  # actually spread, not zeros
    resnet = M.build_model(S.load_spec(PRESET_DIR / "resnet_cifar10.json"))
    bn = resnet[1]
    assert torch.equal(bn.weight, torch.ones(16)) and torch.equal(bn.bias, torch.zeros(16))
    assert torch.equal(bn.running_mean, torch.zeros(16))
    assert torch.equal(bn.running_var, torch.ones(16))
    assert bn.num_batches_tracked.item() == 0


def test_build_model_with_a_given_analysis_is_the_same():
    model_spec = S.load_spec(PRESET_DIR / "mnist_fast.json")
    a = M.build_model(model_spec, generator=torch.Generator().manual_seed(3))
    b = M.build_model(model_spec, generator=torch.Generator().manual_seed(3),
                      analysis=M.analyze(model_spec))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values()))


def test_build_model_raises_spec_error_on_bad_shapes():
    with pytest.raises(S.SpecError, match=r"^layer 0 \(conv\): kernel_size 9"):
        M.build_model(make_spec([{"type": "conv", "out_channels": 1, "kernel_size": 9}],
                                input=(1, 8, 8)))


# --- analysis JSON (the CLI --json contract) ---------------------------------------------

@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_analysis_json_contract(path):
    model_spec = S.load_spec(path)
    data = M.analyze(model_spec).to_json_dict()
    json.loads(json.dumps(data, allow_nan=False))  # plain JSON
    assert {"layers", "total_params", "output_shape"} <= set(data)
    required = {"index", "type", "output_shape", "params", "receptive_field", "jump", "auto"}
    for position, layer in enumerate(data["layers"]):
        assert required <= set(layer)
        assert layer["index"] == position
        assert isinstance(layer["output_shape"], list)
        assert all(type(v) is int for v in layer["output_shape"])
        assert type(layer["params"]) is int and isinstance(layer["auto"], bool)
        flat = len(layer["output_shape"]) == 1
        if flat:
            assert layer["receptive_field"] is None and layer["jump"] is None
        else:
            assert type(layer["receptive_field"]) is int and type(layer["jump"]) is int
    assert data["total_params"] == sum(layer["params"] for layer in data["layers"])
    assert data["output_shape"] == [model_spec.num_classes]
    assert [layer["type"] for layer in data["layers"][:len(model_spec.layers)]] == [
        layer.TYPE for layer in model_spec.layers]
    assert all(layer["auto"] == (layer["index"] >= len(model_spec.layers))
               for layer in data["layers"])


def test_analysis_json_of_lenet_first_layer(lenet):
    _, analysis = lenet
    first = analysis.to_json_dict()["layers"][0]
    assert {k: first[k] for k in ("index", "type", "output_shape", "params",
                                  "receptive_field", "jump", "auto")} == {
        "index": 0, "type": "conv", "output_shape": [6, 28, 28], "params": 156,
        "receptive_field": 5, "jump": 1, "auto": False}


# --- export_python -------------------------------------------------------------------

def import_exported(source: str, tmp_path: Path, name: str = "exported_net"):
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def train_a_little(network: nn.Module, model_spec: S.ModelSpec, steps: int = 2) -> None:
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.05, momentum=0.9)
    network.train()
    for _ in range(steps):
        x = torch.randn(8, *model_spec.input, generator=generator)
        y = torch.randint(0, model_spec.num_classes, (8,), generator=generator)
        optimizer.zero_grad()
        nn.functional.cross_entropy(network(x), y).backward()
        optimizer.step()


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_exported_code_loads_trained_weights_and_agrees(path, tmp_path):
    model_spec = S.load_spec(path)
    network = M.build_model(model_spec, generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in network.state_dict().items()}
    train_a_little(network, model_spec)
    state = network.state_dict()
    assert any(not torch.equal(before[k], state[k]) for k in state)  # it did learn

    source = M.export_python(model_spec)
    imports = [node for node in ast.walk(ast.parse(source))
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert all("playground" not in ast.unparse(node) for node in imports)  # standalone
    exported = import_exported(source, tmp_path, f"net_{path.stem}")
    rebuilt = exported.build_network()
    rebuilt.load_state_dict(state, strict=True)
    assert exported.NAME == model_spec.name
    assert exported.DESCRIPTION == model_spec.description
    assert exported.INPUT_SHAPE == tuple(model_spec.input)
    assert exported.NUM_CLASSES == model_spec.num_classes

    network.eval()
    rebuilt.eval()
    x = torch.randn(5, *model_spec.input, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        ours, theirs = network(x), rebuilt(x)
    assert theirs.shape == (5, model_spec.num_classes)
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_exported_code_with_every_layer_type(tmp_path):
    model_spec = make_spec([
        {"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 2, "dilation": 2,
         "bias": False},
        {"type": "batchnorm"}, {"type": "leaky_relu", "negative_slope": 0.1},
        {"type": "maxpool", "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "residual", "out_channels": 16, "stride": 2, "bottleneck_width": 4},
        {"type": "residual", "out_channels": 16},
        {"type": "gelu"}, {"type": "avgpool", "kernel_size": 2},
        {"type": "sigmoid"}, {"type": "tanh"}, {"type": "relu"}, {"type": "dropout", "p": 0.3},
        {"type": "flatten"}, {"type": "linear", "out_features": 24}, {"type": "batchnorm"},
        {"type": "dropout"},
    ], input=(3, 32, 32), num_classes=4)
    network = M.build_model(model_spec, generator=torch.Generator().manual_seed(0))
    train_a_little(network, model_spec)
    exported = import_exported(M.export_python(model_spec), tmp_path, "net_every")
    rebuilt = exported.build_network()
    rebuilt.load_state_dict(network.state_dict(), strict=True)
    network.eval()
    rebuilt.eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(network(x), rebuilt(x), atol=1e-6)


HOSTILE_NAME = ('Evil "net" \'\'\' """ \\ \n"; import os; os.system(\'echo pwned\') #'
                "\n__import__('os').system('x')")
HOSTILE_DESCRIPTION = ("\"\"\"\n''' end\ndef build_network():\n    __import__('os')"
                       ".system('rm -rf /')\n\\\r\n\x00 \u2028 {NAME} %s")


@pytest.fixture
def hostile_spec():
    model_spec = make_spec([{"type": "conv", "out_channels": 2, "kernel_size": 3},
                            {"type": "residual", "out_channels": 4}],
                           name=HOSTILE_NAME, description=HOSTILE_DESCRIPTION)
    assert model_spec.name == HOSTILE_NAME  # the spec itself accepts any text
    return model_spec


def test_hostile_name_stays_a_string(hostile_spec, tmp_path):
    source = M.export_python(hostile_spec)
    tree = ast.parse(source)

    # only imports, the constants, class/def definitions and the __main__ block
    constants = {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module])
            assert set(modules) <= {"torch"}, modules
        elif isinstance(node, ast.Assign):
            assert len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            constants[node.targets[0].id] = ast.literal_eval(node.value)
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            assert node.name in {"ResidualBlock", "build_network"}
        elif isinstance(node, ast.If):
            assert ast.unparse(node.test) == "__name__ == '__main__'"
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            pass  # a module docstring would be harmless
        else:
            pytest.fail(f"unexpected top-level statement: {ast.unparse(node)}")
    assert set(constants) == {"NAME", "DESCRIPTION", "INPUT_SHAPE", "NUM_CLASSES"}
    assert constants["NAME"] == HOSTILE_NAME
    assert constants["DESCRIPTION"] == HOSTILE_DESCRIPTION
    assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == ["build_network"]

    # nothing anywhere calls os.system or __import__, or names os
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            assert node.id not in {"os", "__import__", "exec", "eval"}
        if isinstance(node, ast.Attribute):
            assert node.attr != "system"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            assert "os" not in [a.name for a in node.names]

    # the hostile text occurs only inside string tokens (not as code, not as comments)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if any(word in token.string for word in ("pwned", "__import__", "rm -rf", "Evil")):
            assert token.type == tokenize.STRING, token

    # and running it as a script does no harm and prints the exact name
    module = import_exported(source, tmp_path, "net_hostile")
    assert module.NAME == HOSTILE_NAME and module.DESCRIPTION == HOSTILE_DESCRIPTION
    assert module.build_network()(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_exported_script_main_block(hostile_spec, tmp_path, capsys, monkeypatch):
    path = tmp_path / "hostile_main.py"
    path.write_text(M.export_python(hostile_spec), encoding="utf-8")
    calls = []
    import os
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a) or 0)
    runpy.run_path(str(path), run_name="__main__")
    assert calls == []
    printed = capsys.readouterr().out
    assert HOSTILE_NAME in printed
    expected = M.analyze(hostile_spec).total_params
    assert f"parameters {expected}" in printed and "output (1, 10)" in printed


def test_export_without_residual_has_no_block_class():
    source = M.export_python(S.load_spec(PRESET_DIR / "lenet5.json"))
    tree = ast.parse(source)
    assert not [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert "# layer 11: linear" in source
    auto = M.export_python(make_spec([]))
    assert "# layer 0: flatten (auto)" in auto and "# layer 1: linear (auto)" in auto


def test_exported_code_runs_in_a_fresh_namespace():
    # the generated file defines everything it uses itself (no playground import)
    source = M.export_python(S.load_spec(PRESET_DIR / "resnet_cifar10.json"))
    namespace = {"__name__": "exported_in_memory"}
    exec(compile(source, "<exported>", "exec"), namespace)
    assert namespace["ResidualBlock"].__module__ == "exported_in_memory"
    assert namespace["ResidualBlock"] is not ResidualBlock
    network = namespace["build_network"]().eval()
    assert network(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    imported = {alias.name for node in ast.walk(ast.parse(source))
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names}
    assert imported == {"torch", "nn"}
