"""The benchmark runs end to end on a tiny subset; it prints figures and asserts none."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from playground.bench import benchmark as B
from playground.data import datasets as D
from playground import spec as S
from tests.support import needs_data

ROOT = Path(__file__).resolve().parents[2]
STEPS, WARMUP, LIMIT = 6, 2, 512


@pytest.fixture(scope="module")
def setup():
    model_spec = S.load_spec(B.DEFAULT_SPEC)
    dataset = D.load_dataset("mnist", limit_train=LIMIT)
    # a small test set: the Trainer evaluates at each (tiny) epoch's end
    dataset = dataclasses.replace(dataset, test_x=dataset.test_x[:500],
                                  test_y=dataset.test_y[:500])
    config = B.bench_config(model_spec, "mnist", STEPS + WARMUP + 1, len(dataset.train_y))
    return model_spec, dataset, config


def test_bench_does_not_import_the_ui_libraries():
    code = ("import playground.bench.benchmark, sys; "
            "assert 'streamlit' not in sys.modules and 'plotly' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_config_covers_every_measured_step():
    model_spec = S.load_spec(B.DEFAULT_SPEC)
    config = B.bench_config(model_spec, "mnist", 5000, 1000)
    assert config.epochs * -(-1000 // config.batch_size) >= 5000


def test_tight_and_trainer_loops_report_positive_figures(setup):
    model_spec, dataset, config = setup
    device = torch.device("cpu")
    report = B.BenchReport(model_spec.name, dataset.name, "cpu", config.batch_size, 1)
    report.throughputs.append(B.measure_tight(model_spec, config, dataset, device, STEPS,
                                              WARMUP))
    report.throughputs.append(B.measure_trainer(model_spec, config, dataset, device, STEPS,
                                                WARMUP))
    report.throughputs.append(B.measure_trainer(model_spec, config, dataset, device, STEPS,
                                                WARMUP, live_inspection=True,
                                                inspect_every=0.01))
    for result in report.throughputs:
        assert result.steps == STEPS and result.images > 0 and result.images_per_s > 0
    live = report.throughputs[-1]
    assert live.extra["refreshes"] >= 1 and live.extra["inspect_ms"] > 0
    ratios = report.ratios()
    assert ratios["c/a"] is None  # (a) not measured here
    assert ratios["c/b"] == pytest.approx(report.figure("c") / report.figure("b"))
    assert ratios["d/c"] == pytest.approx(report.figure("d") / report.figure("c"))


@pytest.mark.parametrize("panel", ["favourite images", "feature space"])
def test_a_seeing_panel_row_runs_the_panels_work_beside_the_inspection(setup, panel):
    model_spec, dataset, config = setup
    result = B.measure_trainer(model_spec, config, dataset, torch.device("cpu"), STEPS,
                               WARMUP, live_inspection=True, inspect_every=0.01, panel=panel)
    assert result.key == f"d+{panel}" and result.images_per_s > 0
    assert result.extra["panel_runs"] >= 1 and result.extra["panel_ms"] > 0
    report = B.BenchReport(model_spec.name, dataset.name, "cpu", config.batch_size, 1,
                           throughputs=[B.Throughput("c", "(c) x", 1, 100, 1.0), result])
    assert report.ratios()[f"d+{panel}/c"] == pytest.approx(result.images_per_s / 100)
    assert "d+attributions/c" not in report.ratios()   # rows not measured are not listed


@needs_data
def test_canonical_loop_and_markdown(setup, tmp_path):
    model_spec, dataset, config = setup
    device = torch.device("cpu")
    canonical = B.measure_canonical(model_spec, config, D.default_data_dir(), device, STEPS,
                                    WARMUP, limit_train=LIMIT)
    assert canonical.key == "a" and canonical.images_per_s > 0
    report = B.BenchReport(model_spec.name, dataset.name, "cpu", config.batch_size, 1,
                           throughputs=[canonical, B.Throughput("b", "(b) x", 1, 200, 1.0),
                                        B.Throughput("c", "(c) x", 1, 100, 1.0),
                                        B.Throughput("d", "(d) x", 1, 90, 1.0)])
    ratios = report.ratios()
    assert ratios["c/a"] == pytest.approx(100 / canonical.images_per_s)
    assert ratios["c/b"] == pytest.approx(0.5) and ratios["d/c"] == pytest.approx(0.9)
    text = B.to_markdown(report, "python -m playground bench --steps 6")
    assert "| loop | steps | images/s | notes |" in text
    assert "| c/b | 0.50x | - | >= 0.95x: MISSED |" in text
    assert "| d/c | 0.90x | - | >= 0.9x: met |" in text
    assert "`python -m playground bench --steps 6`" in text and "| CPU |" in text


def test_trainer_measurement_passes_compile(setup, monkeypatch):
    """--compile reaches the Trainer of (c); compiling itself is tested in test_train."""
    from playground.train import trainer as T

    model_spec, dataset, config = setup
    compiled = []
    monkeypatch.setattr(T, "compile_network",
                        lambda network, device: compiled.append(device) or network)
    plain = B.measure_trainer(model_spec, config, dataset, torch.device("cpu"), STEPS, WARMUP)
    assert compiled == [] and "torch.compile" not in plain.note
    result = B.measure_trainer(model_spec, config, dataset, torch.device("cpu"), STEPS,
                               WARMUP, compile=True)
    assert compiled == [torch.device("cpu")] and result.note.endswith("; torch.compile")
    assert result.steps == STEPS and "gpu_util" not in result.extra


def test_gpu_utilization_only_on_cuda():
    with B.gpu_utilization(torch.device("cpu")) as samples:
        assert samples is None
    assert B.utilization_note(torch.device("cpu"), None) == ""
    cuda = torch.device("cuda")
    assert B.utilization_note(cuda, None) == ("; GPU utilization not available "
                                              "(nvidia-smi not found)")
    assert B.utilization_note(cuda, []) == "; GPU utilization not available (no reading)"
    assert B.utilization_note(cuda, [80.0, 91.0]) == ("; GPU utilization 86% "
                                                      "(mean of 2 readings)")


def test_parse_nvidia_smi_utilization():
    two = "GPU-aaa, 12\nGPU-bbb, 97\n"
    assert B.parse_utilization(two, "GPU-bbb") == 97.0
    assert B.parse_utilization(two, None) is None        # which one is ours is unknown
    assert B.parse_utilization("GPU-aaa, 40\n", None) == 40.0
    assert B.parse_utilization("GPU-aaa, [N/A]\n", "GPU-aaa") is None
    assert B.parse_utilization("", "GPU-aaa") is None


def test_median_of_runs():
    runs = [B.Throughput("c", "(c)", 10, 1000, seconds) for seconds in (1.0, 4.0, 2.0)]
    middle = B.median_of(runs)
    assert middle.images_per_s == pytest.approx(500) and "median of 3 runs" in middle.note


def test_inspect_panel_times(setup):
    pytest.importorskip("plotly")
    model_spec, dataset, _ = setup
    from playground.model import build as M
    times, note = B.inspect_panel_times(model_spec, M.build_model(model_spec), dataset,
                                        repeats=1)
    assert times and all(ms > 0 for ms in times.values()) and "layer 0" in note


@needs_data
def test_cli_bench_writes_markdown(tmp_path, capsys):
    from playground import cli

    out = tmp_path / "bench.md"
    out.write_text("# Benchmarks\n\nKept by hand.\n")
    # 1024 images are 8 steps an epoch: the 4 steps measured end before any evaluation
    status = cli.main(["bench", "--steps", "3", "--warmup", "1", "--repeats", "1", "--limit-train", "1024",
                       "--markdown", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "c/a" in captured.out and "images/s" in captured.out
    text = out.read_text()
    assert "| (c) Trainer, no inspection |" in text
    assert "python -m playground bench --steps 3" in text
    assert text.startswith("# Benchmarks\n\nKept by hand.\n")  # the rest of the file stays


def test_cli_bench_bad_input_is_one_line():
    result = subprocess.run([sys.executable, "-m", "playground", "bench", "--steps", "0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error:")
