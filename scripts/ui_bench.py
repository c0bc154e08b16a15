"""How fast the app answers, measured on a real `streamlit run` server in headless Chromium.

    PLAYGROUND_DATA=../shared/data .venv/bin/python scripts/ui_bench.py --markdown BENCHMARKS.md

Measures the UI targets of BENCHMARKS.md on this machine, as a user meets them:
1. start-up: from launching `make run` (deps already installed: a warm machine) to the
   Train page with an enabled Train button in the browser;
2. Train -> first curve point: press Train with the dataset already cached (a first Step
   loads it), until the loss curve in the browser holds a point;
3. the Train page's live refresh, server side: every run of its live fragment while the
   MNIST fast preset trains (logged by playground/ui/timing.py), and the trainer's images/s
   inside the app, from its own step records;
4. the Inspect page's live refresh, server side, for every panel, while the small ResNet
   preset trains on CIFAR-10 (the Inspect refresh budget is set for that network).
Figures are printed (JSON) and, with --markdown, written to their own section of the file.
Not a test: it times, it does not assert.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playground.bench.browser import CHROMIUM, CHROMIUM_FLAGS, curve_points, free_port
from playground.bench.report import write_section

ROOT = Path(__file__).resolve().parent.parent
SECTION = "scripts/ui_bench.py"
INSPECT_PANELS = ("Kernels", "Feature maps", "Pooling", "Frequency", "Grad-CAM")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def start_server(port: int, log_path: Path) -> subprocess.Popen:
    """`make run`, as a user starts the app, on a port of its own with timing on."""
    env = dict(os.environ, STREAMLIT_SERVER_PORT=str(port),
               STREAMLIT_SERVER_ADDRESS="127.0.0.1", STREAMLIT_SERVER_HEADLESS="true",
               STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
               PLAYGROUND_TIMING_LOG=str(log_path))
    return subprocess.Popen(["make", "--no-print-directory", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)  # make's child too, for the stop


def stop_server(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"error: `make run` exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"error: the server did not answer within {timeout:.0f} s")


def read_log(path: Path, what: str, since: float = 0.0) -> list[dict]:
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r["what"] == what and r["at"] >= since]


def wait_until(condition, timeout: float, poll: float = 0.02) -> float:
    """Seconds until condition() is true; SystemExit when it never is."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"error: timed out after {timeout:.0f} s")
        time.sleep(poll)
    return time.monotonic() - started


def button(page, name: str):
    return page.get_by_role("button", name=name, exact=True)


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"n": len(values), "p50": statistics.median(values), "p95": p95,
            "max": ordered[-1]}


def measure_startup(page, url: str, process: subprocess.Popen, launched: float) -> dict:
    wait_healthy(url, process)
    healthy = time.monotonic() - launched
    page.goto(url)
    page.get_by_role("heading", name="Train a CNN, live").wait_for(timeout=60_000)
    train = button(page, "Train")
    wait_until(lambda: train.count() and train.is_enabled(), 60)
    return {"server_answers_s": healthy, "usable_page_s": time.monotonic() - launched}


def choose_preset(page, label: str) -> None:
    """The Train page's "Load a preset network" select box, by the preset's name."""
    page.get_by_label("Load a preset network").click()
    page.get_by_role("option", name=label).click()
    page.get_by_text(f"{label}", exact=False).first.wait_for()


def measure_first_point(page) -> dict:
    """Step once (loads and caches the dataset), Reset, then time Train -> first point."""
    started = time.monotonic()
    button(page, "Step").click()
    wait_until(lambda: curve_points(page) >= 1 or page.get_by_text("step 1 of").count(), 180)
    first_step = time.monotonic() - started
    button(page, "Reset").click()
    train = button(page, "Train")
    wait_until(lambda: train.is_enabled() and curve_points(page) <= 0, 60)
    pressed = time.monotonic()
    train.click()
    wait_until(lambda: curve_points(page) >= 1, 60)
    return {"first_step_with_data_load_s": first_step,
            "train_to_first_point_s": time.monotonic() - pressed}


def measure_train_refresh(page, log_path: Path, limit: float) -> dict:
    """Until the run finishes (or `limit` s): the fragment's runs and the app's images/s."""
    wait_until(lambda: page.get_by_text("Finished:").count() > 0, limit, poll=0.5)
    records = [r for r in read_log(log_path, "train refresh") if r.get("step")]
    last = max(records, key=lambda r: r["step"])
    return {"refresh_ms": percentiles([r["ms"] for r in records
                                       if r.get("state") == "running"]),
            "steps": last["step"], "train_seconds": last["train_seconds"],
            "app_images_per_s": last["step"] * last["batch"] / last["train_seconds"]}


def open_inspect(page) -> None:
    """The Inspect page through the top navigation, as a user goes there (same session)."""
    page.locator('[data-testid="stTopNavLink"]').filter(has_text="Inspect").first.click()
    page.get_by_text("Panel built in").first.wait_for(timeout=120_000)


def measure_inspect(page, log_path: Path, seconds_per_panel: float) -> dict:
    results = {}
    for panel in INSPECT_PANELS:
        page.get_by_text(panel, exact=True).first.click()
        since = time.time() + 1.0  # the first refresh after a switch builds its caches
        time.sleep(seconds_per_panel + 1.0)
        records = [r for r in read_log(log_path, "inspect refresh", since)
                   if r.get("panel") == panel]
        results[panel] = percentiles([r["ms"] for r in records])
    return results


def run(args: argparse.Namespace) -> dict:
    from playwright.sync_api import sync_playwright

    log_path = Path(tempfile.mkdtemp(prefix="ui-bench-")) / "timing.jsonl"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    result: dict = {"cores": len(os.sched_getaffinity(0)), "load_before": os.getloadavg()[0]}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        launched = time.monotonic()
        process = start_server(port, log_path)
        try:
            say("starting `make run`...")
            result["startup"] = measure_startup(page, url, process, launched)
            say(f"  {result['startup']}\nTrain -> first curve point...")
            result["first_point"] = measure_first_point(page)
            say(f"  {result['first_point']}\nTrain page refreshes until the run ends...")
            result["train"] = measure_train_refresh(page, log_path, args.train_limit)
            say(f"  {result['train']}\nInspect page while {args.inspect_preset} trains...")
            choose_preset(page, args.inspect_preset)
            button(page, "Train").click()
            wait_until(lambda: page.get_by_text(re.compile(r"^step [1-9][\d,]* of [\d,]+$"))
                       .count() and not page.get_by_text("Finished:").count(), 180)
            open_inspect(page)
            result["inspect_spec"] = args.inspect_preset
            result["inspect"] = measure_inspect(page, log_path, args.seconds_per_panel)
        except BaseException:
            page.screenshot(path=str(log_path.parent / "failed.png"))
            say(f"failed; the page as it was: {log_path.parent / 'failed.png'}")
            raise
        finally:
            stop_server(process)
            browser.close()
    result["load_after"] = os.getloadavg()[0]
    return result


def to_markdown(result: dict, command: str) -> str:
    startup, first, train = result["startup"], result["first_point"], result["train"]

    def mark(value: float, limit: float, unit: str, statistic: str = "") -> str:
        verdict = "met" if value <= limit else "MISSED"
        return f"under {limit:g} {unit}{statistic}: {verdict}"

    refresh = train["refresh_ms"]
    lines = ["## The app's answers (UI benchmark)", "",
             f"Measured with `{command}` on a real `make run` server driven by headless "
             f"Chromium ({result['cores']} cores, load average {result['load_before']:.1f} "
             f"before, {result['load_after']:.1f} after). Refresh times are server side: "
             "one run of the page's live fragment (playground/ui/timing.py).", "",
             "| what | measured | target |", "|---|---:|---|",
             f"| `make run` to a usable Train page | {startup['usable_page_s']:.1f} s | "
             f"{mark(startup['usable_page_s'], 10, 's')} |",
             f"| `make run` to the server answering | {startup['server_answers_s']:.1f} s | |",
             f"| first Step, dataset loaded on the way | "
             f"{first['first_step_with_data_load_s']:.1f} s | |",
             f"| Train pressed to the first curve point (data cached) | "
             f"{first['train_to_first_point_s']:.2f} s | "
             f"{mark(first['train_to_first_point_s'], 2, 's')} |",
             f"| Train page live refresh, p50 / p95 (n={refresh['n']}) | "
             f"{refresh['p50']:.0f} / {refresh['p95']:.0f} ms | "
             f"{mark(refresh['p95'], 100, 'ms', ' (p95)')} |",
             f"| trainer inside the app, MNIST fast | {train['app_images_per_s']:,.0f} "
             f"images/s | |",
             "", f"Inspect page live refresh while {result['inspect_spec']} trains, server side:",
             "", "| panel | p50 ms | p95 ms | n | target |", "|---|---:|---:|---:|---|"]
    for panel, stats in result["inspect"].items():
        if stats["n"]:
            lines.append(f"| {panel} | {stats['p50']:.0f} | {stats['p95']:.0f} | "
                         f"{stats['n']} | {mark(stats['p50'], 200, 'ms', ' (p50)')} |")
        else:
            lines.append(f"| {panel} | - | - | 0 | no refresh logged |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inspect-preset", default="Small ResNet (CIFAR-10)",
                        help="the preset's name as the Train page lists it")
    parser.add_argument("--seconds-per-panel", type=float, default=6.0)
    parser.add_argument("--train-limit", type=float, default=240.0,
                        help="at most this many seconds for the MNIST fast run")
    parser.add_argument("--markdown", help="write the figures into this file's UI section")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 1
    result = run(args)
    print(json.dumps(result, indent=1))
    if args.markdown:
        command = "python scripts/ui_bench.py --markdown BENCHMARKS.md"
        write_section(args.markdown, SECTION, to_markdown(result, command))
        print(f"wrote {args.markdown}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
