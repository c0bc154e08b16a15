"""The command line, as an outside script uses it: exit codes, one-line errors, JSON."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from playground import cli
from tests.support import needs_data

ROOT = Path(__file__).resolve().parents[2]
LENET = str(ROOT / "assets" / "presets" / "lenet5.json")
FAST = str(ROOT / "assets" / "presets" / "mnist_fast.json")


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "playground", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env=None if env is None else {**os.environ, **env})


def write_spec(tmp_path: Path, layers: list, **fields) -> str:
    data = {"version": 1, "name": "t", "input": [1, 28, 28], "num_classes": 10,
            "layers": layers, **fields}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_summary_json_of_lenet5():
    result = run_cli("summary", LENET, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["total_params"] == 61706
    assert summary["output_shape"] == [10]
    first = summary["layers"][0]
    assert {k: first[k] for k in ("index", "type", "output_shape", "params",
                                  "receptive_field", "jump", "auto")} == {
        "index": 0, "type": "conv", "output_shape": [6, 28, 28], "params": 156,
        "receptive_field": 5, "jump": 1, "auto": False}
    assert [layer["receptive_field"] for layer in summary["layers"][:6]] == [5, 5, 6, 14, 14, 16]
    assert summary["layers"][6]["receptive_field"] is None


def test_summary_table_is_readable(capsys):
    assert cli.main(["summary", FAST]) == 0
    out = capsys.readouterr().out
    assert "flatten (auto)" in out and "total parameters 9,098" in out


def test_invalid_spec_exits_2_with_one_line_naming_the_layer(tmp_path):
    path = write_spec(tmp_path, [
        {"type": "conv", "out_channels": 4, "kernel_size": 5},
        {"type": "maxpool", "kernel_size": 2},
        {"type": "conv", "out_channels": 4, "kernel_size": 3},
        {"type": "maxpool", "kernel_size": 2},
        {"type": "conv", "out_channels": 4, "kernel_size": 7}])
    result = run_cli("summary", path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == ("error: layer 4 (conv): kernel_size 7 is larger than the "
                             "padded input 5x5\n")


@pytest.mark.parametrize("content, expected", [
    ("{not json", "error: file: not valid JSON"),
    (json.dumps({"version": 2}), "error: version: version must be 1, got 2"),
    (json.dumps({"version": 1, "name": "x", "input": [1, 28], "num_classes": 10}),
     "error: input: must be a list of three integers"),
])
def test_bad_files_exit_2(tmp_path, capsys, content, expected):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert cli.main(["summary", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected) and err.count("\n") == 1


def test_missing_file_and_bad_flags_exit_2(capsys):
    assert cli.main(["summary", "/nonexistent/spec.json"]) == 2
    assert cli.main(["train", FAST, "--epochs", "0"]) == 2
    assert cli.main(["train", FAST, "--optimizer", "rmsprop"]) == 2
    assert cli.main(["train", FAST, "--momentum", "1.5"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4 and all(line.startswith("error: ") for line in lines)
    assert "Traceback" not in "".join(lines)
    assert "--momentum" in lines[3]


@needs_data
def test_spec_that_does_not_fit_the_dataset_exits_2(capsys):
    preset = str(ROOT / "assets" / "presets" / "tinyvgg_cifar10.json")
    assert cli.main(["train", preset, "--dataset", "mnist", "--limit-train", "100"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: input: the spec takes [3, 32, 32] but mnist images are "
                          "[1, 28, 28]")


def test_missing_cuda_exits_1(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert cli.main(["train", FAST, "--device", "cuda"]) == 1
    assert "no CUDA GPU" in capsys.readouterr().err


def test_offline_without_data_exits_1(tmp_path, capsys, monkeypatch):
    import torchvision

    def no_network(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", no_network)
    preset = str(ROOT / "assets" / "presets" / "tinyvgg_cifar10.json")
    status = cli.main(["train", preset, "--dataset", "cifar10", "--data-dir", str(tmp_path),
                       "--json"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert len(err) == 1 and "cifar10" in err[0].lower()


@needs_data
def test_train_json_lines(tmp_path):
    weights = tmp_path / "w.pt"
    result = run_cli("train", FAST, "--dataset", "mnist", "--limit-train", "2000",
                     "--epochs", "2", "--batch-size", "100", "--json", "--save", str(weights))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    epochs, final = lines[:-1], lines[-1]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for record in epochs:
        assert set(record) == {"epoch", "train_loss", "train_acc", "test_acc",
                               "samples_per_s", "train_seconds", "seconds"}
        assert 0 <= record["test_acc"] <= 1 and record["train_seconds"] <= record["seconds"]
    assert final["final"] is True and final["time_to_target"] is None
    assert final["train_size"] == 2000 and final["test_size"] == 10000
    assert final["device"] == "cpu" and final["dataset"] == "mnist"
    assert final["test_acc"] > 0.8

    import torch
    from playground.model import build as M
    from playground.presets import load_preset

    network = M.build_model(load_preset("mnist_fast"))
    network.load_state_dict(torch.load(weights, weights_only=True), strict=True)


@needs_data
def test_train_to_target(capsys):
    status = cli.main(["train", FAST, "--dataset", "mnist", "--limit-train", "3000",
                       "--epochs", "5", "--target-acc", "0.85", "--json"])
    assert status == 0
    final = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert final["time_to_target"] is not None and final["test_acc"] >= 0.85


# Four steps of the fast preset on the CPU (constant schedule: one-cycle over four steps
# divides by zero in torch), so torch.compile's few seconds are most of the run.
TINY_RUN = ("train", FAST, "--dataset", "mnist", "--limit-train", "256", "--epochs", "1",
            "--batch-size", "64", "--schedule", "constant", "--device", "cpu", "--json")


def test_compile_flag_is_optional():
    parser = cli.build_parser()
    assert parser.parse_args(["train", FAST]).compile is False
    assert parser.parse_args(["train", FAST, "--compile"]).compile is True
    assert parser.parse_args(["bench"]).compile is False
    assert parser.parse_args(["bench", "--compile"]).compile is True


@needs_data
@pytest.mark.skipif(shutil.which("g++") is None,
                    reason="torch.compile on a CPU needs a C++ compiler (g++)")
def test_train_compile_learns_what_eager_learns(capsys):
    result = run_cli(*TINY_RUN, "--compile")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    compiled = [json.loads(line) for line in result.stdout.splitlines()]
    assert cli.main(list(TINY_RUN)) == 0
    eager = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line.keys() for line in compiled] == [line.keys() for line in eager]
    assert compiled[0]["train_loss"] == pytest.approx(eager[0]["train_loss"], rel=1e-4)
    assert compiled[-1]["test_acc"] == pytest.approx(eager[-1]["test_acc"], abs=0.01)


@needs_data
def test_train_compile_failure_is_one_line(tmp_path):
    """No working C++ compiler (inductor reads $CXX; a fresh cache, so nothing compiled
    earlier is reused): the run fails through the trainer, one line, exit 1."""
    result = run_cli(*TINY_RUN, "--compile",
                     env={"CXX": str(tmp_path / "no-such-c++"),
                          "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")})
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: training failed at step 0: torch.compile failed "
                                     "(InvalidCxxCompiler: ")
    assert result.stderr.endswith("; train without compile\n")
