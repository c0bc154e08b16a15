"""Open formats out and in: .safetensors weights both ways, ONNX that ONNX Runtime runs
like PyTorch, PyTorch code bundled with its weights, and the `export` command."""
from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from playground import checkpoint as C
from playground import exports
from playground.model import build as M
from playground.presets import load_preset, preset_names

ROOT = Path(__file__).resolve().parents[2]
LENET = str(ROOT / "assets" / "presets" / "lenet5.json")


def trained_like(name: str) -> tuple:
    """A preset with seeded weights and BatchNorm statistics that are not the defaults, so
    an export that ignored them would show."""
    model_spec = load_preset(name)
    network = M.build_model(model_spec, "cpu", torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(2)
    for module in network.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_(0, 0.3, generator=generator)
            module.running_var.uniform_(0.5, 2.0, generator=generator)
    return model_spec, network.eval()


@pytest.mark.parametrize("name", preset_names())
def test_onnx_runs_in_onnx_runtime_like_pytorch(name):
    import onnx
    import onnxruntime

    model_spec, network = trained_like(name)
    data = exports.onnx_bytes(model_spec, network.state_dict())
    model = onnx.load_from_string(data)
    assert any(o.domain in ("", "ai.onnx") and o.version == 18 for o in model.opset_import)
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    for batch in (1, 5):  # the batch size is free
        images = torch.randn(batch, *model_spec.input, generator=torch.Generator().manual_seed(batch))
        (logits,) = session.run(None, {"images": images.numpy()})
        with torch.no_grad():
            expected = network(images).numpy()
        assert logits.shape == (batch, model_spec.num_classes)
        np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)


def test_safetensors_weights_are_read_and_must_fit():
    model_spec, network = trained_like("lenet5")
    data = C.to_safetensors(network.state_dict())
    assert C.is_safetensors(data) and not C.is_safetensors(C.to_bytes(network.state_dict()))
    loaded = C.load_weights(data, model_spec)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in network.state_dict().items())
    other = load_preset("mnist_fast")
    with pytest.raises(C.CheckpointError, match=r"^the weights do not fit 'MNIST fast': "
                                                r"layer 0 \(conv\): 0.weight is \[6, 1, 5, 5\] "
                                                r"in the file, the network has \[8, 1, 3, 3\]$"):
        C.load_weights(data, other)
    with pytest.raises(C.CheckpointError, match=r"^the \.safetensors file is damaged"):
        C.read_state_dict(data[:8] + b"{" + data[9:200])


def test_the_code_bundle_loads_its_own_weights(tmp_path):
    model_spec, network = trained_like("mnist_99")
    with zipfile.ZipFile(io.BytesIO(exports.code_bundle(model_spec, network.state_dict()))) as z:
        names = sorted(z.namelist())
        z.extractall(tmp_path)
    assert names == ["mnist-99.py", "mnist-99.safetensors"]
    code = (tmp_path / "mnist-99.py").read_text()
    assert "load_file(WEIGHTS)" in code
    probe = (f"import runpy, torch, sys\nsys.argv=['x']\n"
             f"ns = runpy.run_path({str(tmp_path / 'mnist-99.py')!r}, run_name='__main__')\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "parameters" in result.stdout
    # the bundled code without weights is the plain export, as before
    assert "load_file" not in M.export_python(model_spec)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "playground", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_the_export_command_writes_each_format_and_refuses_weights_that_do_not_fit(tmp_path):
    model_spec, network = trained_like("lenet5")
    weights = tmp_path / "lenet.pt"
    weights.write_bytes(C.to_bytes(network.state_dict()))
    out = tmp_path / "lenet.safetensors"
    result = run_cli("export", LENET, "--weights", str(weights), "--format", "safetensors",
                     "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert C.read_state_dict(out.read_bytes()).keys() == network.state_dict().keys()
    onnx_file = tmp_path / "lenet.onnx"
    result = run_cli("export", LENET, "--weights", str(out), "--format", "onnx",
                     "-o", str(onnx_file))
    assert result.returncode == 0, result.stderr
    assert onnx_file.read_bytes()[:2] == b"\x08\x09" or onnx_file.stat().st_size > 1000
    fast = str(ROOT / "assets" / "presets" / "mnist_fast.json")
    result = run_cli("export", fast, "--weights", str(weights), "--format", "pytorch",
                     "-o", str(tmp_path / "x.zip"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (f"error: --weights: {weights}: the weights do not fit 'MNIST "
                             "fast': layer 0 (conv): 0.weight is [6, 1, 5, 5] in the file, the "
                             "network has [8, 1, 3, 3]\n")
    result = run_cli("export", LENET, "--weights", str(tmp_path / "none.pt"), "--format",
                     "onnx", "-o", str(onnx_file))
    assert result.returncode == 2
    assert result.stderr.startswith("error: --weights: cannot read ")
    assert result.stderr.count("\n") == 1


def test_importing_the_exports_loads_no_onnx_exporter():
    code = ("import sys, playground.exports, playground.cli\n"
            "loaded = [m for m in ('torch._dynamo', 'onnx', 'onnxscript') if m in sys.modules]\n"
            "print(loaded); sys.exit(1 if loaded else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
