"""The analysis counts multiply-adds as torch's FLOP counter does, without its import cost,
and the commands import only what they use."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from playground import spec as S
from playground.model import build as M
from playground.presets import load_preset
from tests.support import needs_data

ROOT = Path(__file__).resolve().parents[2]
PRESETS = sorted(path.stem for path in (ROOT / "assets" / "presets").glob("*.json"))

ODD_LAYERS = {
    "dilated and strided convs, grouped shapes": [
        {"type": "conv", "out_channels": 5, "kernel_size": 3, "dilation": 2, "padding": 1},
        {"type": "conv", "out_channels": 7, "kernel_size": 4, "stride": 3, "padding": 2,
         "bias": False},
        {"type": "leaky_relu"}, {"type": "avgpool", "kernel_size": 3, "stride": 1}],
    "residual blocks: identity, projection, bottleneck, strided bottleneck": [
        {"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"type": "batchnorm"}, {"type": "gelu"},
        {"type": "residual", "out_channels": 8},
        {"type": "residual", "out_channels": 12, "stride": 2},
        {"type": "residual", "out_channels": 12, "bottleneck_width": 4},
        {"type": "residual", "out_channels": 16, "stride": 2, "bottleneck_width": 6}],
    "flat layers": [
        {"type": "global_avgpool"}, {"type": "linear", "out_features": 20},
        {"type": "batchnorm"}, {"type": "tanh"}, {"type": "dropout"},
        {"type": "linear", "out_features": 10}, {"type": "sigmoid"}],
}


def flop_counter_macs(info: M.LayerInfo) -> int:
    """Multiply-adds of one analysed layer as torch's FLOP counter counts them (2 per MAC)."""
    with torch.device("meta"):
        module = M.instantiate(info.recipe).eval()
        x = torch.empty((1, *info.input_shape))
    counter = FlopCounterMode(display=False)
    with counter:
        module(x)
    return counter.get_total_flops() // 2


def assert_macs_match_the_flop_counter(model_spec: S.ModelSpec) -> None:
    analysis = M.analyze(model_spec)
    for info in analysis.layers:
        assert info.macs == flop_counter_macs(info), (info.index, info.type)
    assert analysis.total_macs > 0


@pytest.mark.parametrize("name", PRESETS)
def test_preset_macs_match_the_flop_counter(name):
    assert_macs_match_the_flop_counter(load_preset(name))


@pytest.mark.parametrize("case", sorted(ODD_LAYERS))
def test_odd_layer_macs_match_the_flop_counter(case):
    spec = S.parse_spec({"version": 1, "name": case, "input": [3, 17, 17], "num_classes": 10,
                         "layers": ODD_LAYERS[case]})
    assert_macs_match_the_flop_counter(spec)


def test_analysis_of_a_large_network_is_cheap():
    """Uninitialised CPU weights on an empty batch: no arithmetic, no memory touched."""
    spec = S.parse_spec({"version": 1, "name": "big", "input": [3, 256, 256],
                         "num_classes": 1000, "layers": [
                             {"type": "conv", "out_channels": 512, "kernel_size": 11,
                              "padding": 5},
                             {"type": "conv", "out_channels": 512, "kernel_size": 3,
                              "padding": 1},
                             {"type": "global_avgpool"}]})
    analysis = M.analyze(spec)
    assert analysis.layers[1].output_shape == (512, 256, 256)
    assert analysis.layers[1].macs == 512 * 256 * 256 * 512 * 9


def imported_modules(*cli_args: str) -> dict:
    """Which heavy modules `python -m playground ...` imported, and its JSON lines."""
    probe = ("import json, runpy, sys\n"
             f"sys.argv = ['playground', *{list(cli_args)!r}]\n"
             "try:\n"
             "    runpy.run_module('playground', run_name='__main__')\n"
             "except SystemExit as done:\n"
             "    assert not done.code, done.code\n"
             "names = ('torch._dynamo', 'torchvision', 'cv2', 'torch.utils.flop_counter')\n"
             "print(json.dumps({name: name in sys.modules for name in names}))\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_summary_imports_neither_the_compiler_stack_nor_torchvision():
    imported = imported_modules("summary", str(ROOT / "assets/presets/resnet_cifar10.json"),
                                "--json")
    assert not any(imported.values()), imported


@needs_data
def test_train_imports_no_torchvision_opencv_or_flop_counter():
    """torch._dynamo is not checked: torch.optim's optimizers import it when built."""
    imported = imported_modules("train", str(ROOT / "assets/presets/mnist_fast.json"),
                                "--dataset", "mnist", "--limit-train", "256", "--epochs", "1",
                                "--batch-size", "64", "--schedule", "constant", "--json")
    assert not imported["torchvision"] and not imported["cv2"], imported
    assert not imported["torch.utils.flop_counter"], imported
