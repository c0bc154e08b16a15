"""The UI benchmark's parts: the pages' timing log and the figures scripts/ui_bench.py
reports from it (the benchmark itself times a real server; it is run by `make bench-ui`)."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from playground.ui import timing
from tests.pages.test_app import APP, TIMEOUT, button, metric, rerun_until
from scripts import ui_bench


def test_timed_blocks_are_logged_only_when_asked(tmp_path, monkeypatch):
    log = tmp_path / "timing.jsonl"
    monkeypatch.delenv(timing.LOG_ENV, raising=False)
    with timing.timed("train refresh") as extra:
        extra["step"] = 3
    assert not log.exists()
    monkeypatch.setenv(timing.LOG_ENV, str(log))
    with timing.timed("train refresh", spec="MNIST fast") as extra:
        extra["step"] = 7
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["what"] == "train refresh" and record["step"] == 7
    assert record["spec"] == "MNIST fast" and record["ms"] >= 0


def test_the_train_page_logs_its_live_refreshes(tmp_path, monkeypatch):
    log = tmp_path / "timing.jsonl"
    monkeypatch.setenv(timing.LOG_ENV, str(log))
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    app.run()
    try:
        button(app, "Train").click().run()
        rerun_until(app, lambda: metric(app, "Images/s") != "-")
    finally:
        from playground.ui import runs

        runs.executor().stop(app.session_state["run_id"])
    refreshes = ui_bench.read_log(log, "train refresh")
    trained = [r for r in refreshes if r.get("step")]
    assert trained and trained[-1]["batch"] == 128 and trained[-1]["train_seconds"] > 0
    assert trained[-1]["spec"] == "MNIST fast" and trained[-1]["points"] >= 1


def test_percentiles():
    stats = ui_bench.percentiles([float(n) for n in range(1, 101)])
    assert stats["n"] == 100 and stats["p50"] == 50.5 and stats["p95"] == 95
    assert stats["max"] == 100 and ui_bench.percentiles([]) == {"n": 0}


def a_round(first: float, refresh_p95: float, kernels_p50: float, load: float) -> dict:
    """One round's figures as ui_bench.one_round returns them."""
    return {
        "load_before": load, "load_after": load + 1,
        "startup": {"server_answers_s": 0.6, "usable_page_s": 4.5},
        "mnist_first_point_s": first, "cifar_first_point_s": first + 1,
        "train": {"refresh_ms": {"n": 30, "p50": 48.0, "p95": refresh_p95, "max": 190.0},
                  "steps": 938, "train_seconds": 9.6, "app_images_per_s": 12_447.0},
        "inspect": {panel: {"n": 0} for panel in ui_bench.INSPECT_PANELS} | {
            "Kernels": {"n": 12, "p50": kernels_p50, "p95": 201.0, "max": 230.0}},
    }


def test_rounds_are_summarised_by_median_and_range():
    rounds = [a_round(1.2, 90.0, 120.0, 0.5), a_round(2.8, 130.0, 160.0, 1.0),
              a_round(1.5, 95.0, 140.0, 2.0)]
    summary = ui_bench.summarise(rounds)
    assert summary["mnist_first_point_s"] == {"n": 3, "median": 1.5, "min": 1.2, "max": 2.8}
    assert summary["train_refresh_p95_ms"]["median"] == 95.0
    assert summary["inspect"]["Kernels"]["p50_ms"]["median"] == 140.0
    assert summary["inspect"]["Kernels"]["n"] == 36
    assert summary["inspect"]["Pooling"]["p50_ms"] == {"n": 0}
    assert summary["load"]["min"] == 0.5 and summary["load"]["max"] == 3.0
    met = {target: ok for target, _, _, ok in ui_bench.verdicts(summary)}
    assert met["mnist_first_point_s"] and met["cifar_first_point_s"]
    assert met["train_refresh_p95_ms"] and met["inspect Kernels p50_ms"]
    assert met["inspect Pooling p50_ms"] is None


def test_the_markdown_marks_each_target(tmp_path):
    rounds = [a_round(2.5, 169.0, 151.0, 0.5), a_round(3.5, 160.0, 149.0, 1.0)]
    result = {"cores": 2, "rounds": rounds, "summary": ui_bench.summarise(rounds)}
    text = ui_bench.to_markdown(result, "make bench-ui")
    assert "load average 0.5-2.0" in text and "median of 2 rounds" in text
    assert "| `make run` to a usable Train page | 4.5 (4.5-4.5) s | under 10 s: met |" in text
    assert ("| first Train on a fresh server to the first curve point (MNIST on disk) | "
            "3.00 (2.50-3.50) s | under 3 s: met |") in text
    assert ("| first Train of CIFAR-10 to the first curve point (decoded cache warm) | "
            "4.00 (3.50-4.50) s | under 3 s: MISSED |") in text
    assert "| Train page live refresh, p95 | 164 (160-169) ms | under 100 ms: MISSED |" in text
    assert "| trainer inside the app, MNIST fast | 12,447 (12,447-12,447) images/s | |" in text
    assert ("| Kernels | 150 (149-151) ms | 201 (201-201) ms | 24 | under 150 ms: met | "
            "under 300 ms: met |") in text
    assert "| Feature maps | - | - | 0 | under 150 ms: not measured |" in text
    path = tmp_path / "BENCHMARKS.md"
    ui_bench.write_section(path, ui_bench.SECTION, text)
    assert (f"<!-- begin {ui_bench.SECTION}: generated, do not edit -->\n{text.rstrip()}\n"
            f"<!-- end {ui_bench.SECTION} -->") in path.read_text()


@pytest.mark.parametrize("since, count", [(0.0, 2), (150.0, 1)])
def test_the_log_is_read_by_kind_and_time(tmp_path, since, count):
    log = tmp_path / "timing.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in (
        {"what": "train refresh", "ms": 10, "at": 100.0},
        {"what": "inspect refresh", "ms": 90, "at": 120.0, "panel": "Kernels"},
        {"what": "train refresh", "ms": 20, "at": 200.0})) + "\n")
    assert len(ui_bench.read_log(log, "train refresh", since)) == count
    assert ui_bench.read_log(tmp_path / "missing.jsonl", "train refresh") == []
