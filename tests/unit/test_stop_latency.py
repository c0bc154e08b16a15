"""The benchmark's Stop latency: on the heaviest networks the caps allow, Stop ends the run
within about the step it was pressed in."""
from __future__ import annotations

from playground.bench import benchmark as B
from playground.bench import stop_latency as SL
from playground import spec as S
from playground.model import build as M


def test_the_heaviest_networks_run_at_the_largest_batch_the_caps_allow():
    for shape, layers in SL.HEAVIEST.values():
        analysis = M.analyze(S.parse_spec({"version": 1, "name": "n", "input": list(shape),
                                           "num_classes": 10, "layers": layers}))
        batch = SL.largest_batch(analysis)
        M.check_batch(analysis, batch)
        assert batch == S.LIMITS.max_batch_size or analysis.step_work * (batch + 1) > \
            S.LIMITS.max_step_macs or analysis.activation_bytes * (batch + 1) > \
            S.LIMITS.max_activation_bytes
        # at the cap: each of them is among the heaviest a class may train
        assert analysis.step_work * batch > S.LIMITS.max_step_macs * 0.8


def test_stop_ends_a_heavy_run_within_the_step_it_was_pressed_in():
    stop = SL.measure_stop("8 convs 8 3x3 on 256x256", trials=1)
    assert stop.batch_size > 1 and stop.step_seconds > 0
    # what is left of that step, the thread's wind-down and a scheduling hiccup
    assert stop.worst_seconds <= 1.5 * stop.step_seconds + 0.5, stop


def test_the_report_has_a_stop_latency_section():
    report = B.BenchReport("net", "mnist", "cpu", 64, 2, stops=[
        SL.StopLatency("3 convs 512 3x3 on 28x28", 5, 0.61, 0.48, 2)])
    text = B.to_markdown(report, "python -m playground bench", machine={"cpu": "test"})
    assert "### Stop latency on the heaviest networks the caps allow (CPU)" in text
    assert "| 3 convs 512 3x3 on 28x28 | 5 | 0.61 | 0.48 | 2 |" in text
    assert "worst 0.48 s of 2 presses" in B.format_text(report)
