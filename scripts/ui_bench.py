"""How fast the app answers, measured on a real `streamlit run` server in headless Chromium.

    PLAYGROUND_DATA=../shared/data .venv/bin/python scripts/ui_bench.py --markdown BENCHMARKS.md

Measures the UI targets of BENCHMARKS.md on this machine, as a user meets them. Each round
starts a fresh server and measures, in order:
1. start-up: from launching `make run` (deps already installed: a warm machine) to the
   Train page with an enabled Train button in the browser;
2. the first Train on that fresh server, MNIST on disk: pressed as soon as the button is
   enabled (the page has begun loading the dataset in the background), until the loss
   curve in the browser holds a point;
3. the Train page's live refresh, server side: every run of its live fragment while that
   MNIST fast run trains to its end (logged by playground/ui/timing.py), and the trainer's
   images/s inside the app, from its own step records;
4. the first Train of CIFAR-10 (a CIFAR-10 preset, pressed as soon as the preset is
   chosen) with its decoded cache warm, to the first curve point;
5. the Inspect page's live refresh, server side, for every panel, while the small ResNet
   preset trains on CIFAR-10 (the Inspect refresh budget is set for that network).
Rounds are repeated (--repeats, default 3): the report gives each figure's median over the
rounds and their range, so that one noisy round on a shared machine does not decide.
Figures are printed (JSON) with each target met or missed and, with --markdown, written to
their own section of the file. Not a test: it times, it does not assert.
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
# The targets: (what, limit, unit); every one is "at most the limit".
TARGETS = {
    "usable_page_s": 10.0,                 # `make run` to a usable Train page
    "mnist_first_point_s": 3.0,            # first Train on a fresh server, MNIST on disk
    "cifar_first_point_s": 3.0,            # first Train of CIFAR-10, decoded cache warm
    "train_refresh_p95_ms": 100.0,         # the Train page's live refresh
    "inspect_p50_ms": 150.0,               # every Inspect panel, while the ResNet trains
    "inspect_p95_ms": 300.0,
}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def start_server(port: int, log_path: Path, root: Path, python: str | None) -> subprocess.Popen:
    """`make run`, as a user starts the app, on a port of its own with timing on; with
    `python`, that interpreter's environment instead of the checkout's own .venv (no
    setup step)."""
    env = dict(os.environ, STREAMLIT_SERVER_PORT=str(port),
               STREAMLIT_SERVER_ADDRESS="127.0.0.1", STREAMLIT_SERVER_HEADLESS="true",
               STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
               PLAYGROUND_TIMING_LOG=str(log_path))
    command = ["make", "--no-print-directory", "run"]
    if python:
        command += [f"PYTHON={python}", "PACKAGE="]
    return subprocess.Popen(command, cwd=root, env=env,
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


def spread(values: list[float]) -> dict:
    """Median and range of one figure over the rounds."""
    values = [v for v in values if v is not None]
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": statistics.median(values), "min": min(values),
            "max": max(values)}


def measure_startup(page, url: str, process: subprocess.Popen, launched: float) -> dict:
    wait_healthy(url, process)
    healthy = time.monotonic() - launched
    page.goto(url)
    page.get_by_role("heading", name="Train a CNN, live").wait_for(timeout=60_000)
    train = button(page, "Train")
    wait_until(lambda: train.count() and train.is_enabled(), 60)
    return {"server_answers_s": healthy, "usable_page_s": time.monotonic() - launched}


def choose_preset(page, label: str) -> None:
    """The Train page's "Load a preset network" select box, by the preset's name (its
    Settings panel closes when a run starts: opened first)."""
    chooser = page.get_by_label("Load a preset network")
    if not chooser.is_visible():
        page.locator('[data-testid="stExpander"] summary').filter(
            has_text="Settings").first.click()
        chooser.wait_for(state="visible")
    chooser.click()
    page.get_by_role("option", name=label).click()
    page.get_by_text(f"{label}", exact=False).first.wait_for()


PROGRESS_TEXT = re.compile(r"^step [\d,]+ of ([\d,]+)$")


def run_length(page) -> str | None:
    """The total of the progress line ("step 120 of 938") of the run shown, if any."""
    line = page.get_by_text(PROGRESS_TEXT)
    if not line.count():
        return None
    match = PROGRESS_TEXT.match(line.first.inner_text().strip())
    return match.group(1) if match else None


def press_train_to_first_point(page, timeout: float = 600) -> float:
    """Press Train as soon as it is enabled; seconds from the press to the first point
    of the new run's loss curve in the browser (a run of another length than the one shown
    before: the old run's curve must not count)."""
    train = button(page, "Train")
    wait_until(lambda: train.count() and train.is_enabled(), 180)
    before = run_length(page)
    pressed = time.monotonic()
    train.click()
    wait_until(lambda: run_length(page) not in (None, before) and curve_points(page) >= 1,
               timeout, poll=0.05)
    return time.monotonic() - pressed


# The line a run that ended by itself shows ("Finished 2 epochs: 98.4% test accuracy ...").
ENDED_TEXT = re.compile(r"^(Finished|Target accuracy reached|Time limit reached) .*: ")


def press_breakdown(log_path: Path, since: float) -> dict:
    """Where a first Train's time went, server side (the page logs it): the press to the
    run started (dataset load, model, thread), the press to the first point drawn, and the
    training time within it."""
    started = read_log(log_path, "train started", since)
    first = read_log(log_path, "first point", since)
    return {"started_ms": started[-1]["ms"] if started else None,
            "first_point_ms": first[-1]["ms"] if first else None,
            "first_point_step": first[-1].get("step") if first else None,
            "train_s": first[-1].get("train_seconds") if first else None}


def measure_train_refresh(page, log_path: Path, limit: float) -> dict:
    """Until the run finishes, or for `limit` s and then stopped (a busy machine trains
    slowly): the fragment's runs and the app's images/s."""
    try:
        wait_until(lambda: page.get_by_text(ENDED_TEXT).count() > 0, limit, poll=0.5)
    except SystemExit:
        button(page, "Stop").click()
        wait_until(lambda: button(page, "Train").is_enabled(), 60)
    records = [r for r in read_log(log_path, "train refresh") if r.get("step")]
    last = max(records, key=lambda r: r["step"])
    return {"refresh_ms": percentiles([r["ms"] for r in records
                                       if r.get("state") == "running"]),
            "steps": last["step"], "train_seconds": last["train_seconds"],
            "app_images_per_s": last["step"] * last["batch"] / last["train_seconds"]}


def new_session(browser, url: str):
    """A new browser tab on the app, its Train button usable: a session of its own.

    Each measurement after the first gets one. (A fault of the app, also on main at
    34698ae and not yet fixed: after choosing a preset with augmentation on, whose
    "What augmentation does" panel is drawn above the live part, Train starts the run on
    the server but the page is not redrawn; MNIST 99%, without augmentation, is.)"""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    # A busy machine can keep a button disabled for a while (the page is still measuring
    # the training time of a newly chosen preset): a click waits for it, not 30 s.
    page.set_default_timeout(180_000)
    page.goto(url)
    page.get_by_role("heading", name="Train a CNN, live").wait_for()
    train = button(page, "Train")
    wait_until(lambda: train.count() and train.is_enabled(), 180)
    return page


def measure_cifar_first_point(browser, url: str, preset: str, limit: float) -> float | None:
    """In a new session, choose a CIFAR-10 preset (the page starts loading CIFAR-10 at
    once) and press Train right away; None when no point is drawn within `limit` s (see
    `new_session`: after a preset is chosen the page may not be redrawn)."""
    page = new_session(browser, url)
    try:
        choose_preset(page, preset)
        try:
            return press_train_to_first_point(page, timeout=limit)
        except SystemExit:
            say("  no first point drawn: the page was not redrawn after Train")
            return None
    finally:
        stop_shown_run(page)
        page.close()


def stop_shown_run(page) -> None:
    """Stop the session's run (a reload draws a page the fault above left undrawn), so
    that it does not hold the training slot the next run needs."""
    page.reload()
    stop = button(page, "Stop")
    try:
        wait_until(lambda: stop.count() and stop.is_enabled(), 60)
    except SystemExit:
        return  # it ended by itself
    stop.click()
    wait_until(lambda: button(page, "Train").is_enabled(), 120)


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


def one_round(browser, args: argparse.Namespace, number: int) -> dict:
    """Every measurement once, on a fresh server."""
    log_path = Path(tempfile.mkdtemp(prefix="ui-bench-")) / "timing.jsonl"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    result: dict = {"load_before": os.getloadavg()[0]}
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    # A busy machine can keep a button disabled for a while (the page is still measuring
    # the training time of a newly chosen preset): a click waits for it, not 30 s.
    page.set_default_timeout(180_000)
    launched = time.monotonic()
    process = start_server(port, log_path, Path(args.root), args.server_python)
    try:
        say(f"round {number}: starting `make run`...")
        result["startup"] = measure_startup(page, url, process, launched)
        say(f"  {result['startup']}\n  first Train, MNIST fast...")
        since = time.time()
        result["mnist_first_point_s"] = press_train_to_first_point(page)
        result["mnist_press"] = press_breakdown(log_path, since)
        say(f"  {result['mnist_first_point_s']:.2f} s {result['mnist_press']}\n  Train page "
            "refreshes until the run ends...")
        result["train"] = measure_train_refresh(page, log_path, args.train_limit)
        if button(page, "Stop").is_enabled():
            button(page, "Stop").click()
        say(f"  {result['train']}\n  first Train of CIFAR-10 ({args.cifar_preset})...")
        since = time.time()
        result["cifar_first_point_s"] = measure_cifar_first_point(
            browser, url, args.cifar_preset, args.first_point_limit)
        result["cifar_press"] = press_breakdown(log_path, since)
        say(f"  {result['cifar_first_point_s']} s {result['cifar_press']}\n  Inspect page "
            f"while {args.inspect_preset} trains...")
        page.close()
        page = new_session(browser, url)
        choose_preset(page, args.inspect_preset)
        started = len(read_log(log_path, "train started"))
        button(page, "Train").click()
        # The server's word that the run started (the Train page may not be redrawn).
        wait_until(lambda: len(read_log(log_path, "train started")) > started, 180)
        time.sleep(2)
        open_inspect(page)
        result["inspect"] = measure_inspect(page, log_path, args.seconds_per_panel)
        say(f"  {json.dumps(result['inspect'])}")
    except BaseException:
        page.screenshot(path=str(log_path.parent / "failed.png"))
        say(f"failed; the page as it was: {log_path.parent / 'failed.png'}")
        raise
    finally:
        stop_server(process)
        page.close()
    result["load_after"] = os.getloadavg()[0]
    return result


def summarise(rounds: list[dict]) -> dict:
    """Each figure's median and range over the rounds, and each target met or missed (by
    the median)."""
    summary = {
        "usable_page_s": spread([r["startup"]["usable_page_s"] for r in rounds]),
        "server_answers_s": spread([r["startup"]["server_answers_s"] for r in rounds]),
        "mnist_first_point_s": spread([r["mnist_first_point_s"] for r in rounds]),
        "cifar_first_point_s": spread([r["cifar_first_point_s"] for r in rounds]),
        "press": {which: {part: spread([(r.get(f"{which}_press") or {}).get(part)
                                        for r in rounds])
                          for part in ("started_ms", "first_point_ms", "train_s")}
                  for which in ("mnist", "cifar")},
        "train_refresh_p50_ms": spread([r["train"]["refresh_ms"].get("p50") for r in rounds]),
        "train_refresh_p95_ms": spread([r["train"]["refresh_ms"].get("p95") for r in rounds]),
        "train_refreshes": sum(r["train"]["refresh_ms"]["n"] for r in rounds),
        "app_images_per_s": spread([r["train"]["app_images_per_s"] for r in rounds]),
        "inspect": {},
        "load": spread([load for r in rounds for load in (r["load_before"], r["load_after"])]),
    }
    for panel in INSPECT_PANELS:
        stats = [r["inspect"][panel] for r in rounds]
        summary["inspect"][panel] = {
            "p50_ms": spread([s.get("p50") for s in stats]),
            "p95_ms": spread([s.get("p95") for s in stats]),
            "n": sum(s["n"] for s in stats)}
    return summary


def verdicts(summary: dict) -> list[tuple[str, float | None, float, bool | None]]:
    """(target, measured median, limit, met) for every target; met is None when nothing
    was measured."""
    rows = []
    for key in ("usable_page_s", "mnist_first_point_s", "cifar_first_point_s",
                "train_refresh_p95_ms"):
        value = summary[key].get("median")
        rows.append((key, value, TARGETS[key], None if value is None
                     else value <= TARGETS[key]))
    for panel, stats in summary["inspect"].items():
        for statistic in ("p50", "p95"):
            value = stats[f"{statistic}_ms"].get("median")
            limit = TARGETS[f"inspect_{statistic}_ms"]
            rows.append((f"inspect {panel} {statistic}_ms", value, limit,
                         None if value is None else value <= limit))
    return rows


def run(args: argparse.Namespace) -> dict:
    from playwright.sync_api import sync_playwright

    result: dict = {"cores": len(os.sched_getaffinity(0)), "rounds": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            for number in range(1, args.repeats + 1):
                result["rounds"].append(one_round(browser, args, number))
        finally:
            browser.close()
    result["summary"] = summarise(result["rounds"])
    return result


def _figure(stats: dict, unit: str, digits: int = 0) -> str:
    """ "median (min-max) unit" over the rounds, or "-" when nothing was measured."""
    if not stats.get("n"):
        return "-"
    low, high = f"{stats['min']:,.{digits}f}", f"{stats['max']:,.{digits}f}"
    spread_text = "" if stats["n"] < 2 else f" ({low}-{high})"
    return f"{stats['median']:,.{digits}f}{spread_text} {unit}".rstrip()


def _mark(stats: dict, limit: float, unit: str, statistic: str = "") -> str:
    if not stats.get("n"):
        return f"under {limit:g} {unit}{statistic}: not measured"
    return (f"under {limit:g} {unit}{statistic}: "
            f"{'met' if stats['median'] <= limit else 'MISSED'}")


def to_markdown(result: dict, command: str) -> str:
    summary = result["summary"]
    rounds = len(result["rounds"])
    load = summary["load"]
    lines = ["## The app's answers (UI benchmark)", "",
             f"Measured with `{command}` on a real `make run` server driven by headless "
             f"Chromium ({result['cores']} cores; load average {load['min']:.1f}-"
             f"{load['max']:.1f} before and after the rounds). Each figure is the median of "
             f"{rounds} round{'s' if rounds != 1 else ''} (each on a fresh server), with "
             "the range over the rounds in brackets; a target is met when the median is. "
             "Refresh times are server side: one run of the page's live fragment "
             "(playground/ui/timing.py).", "",
             "| what | measured | target |", "|---|---:|---|",
             f"| `make run` to a usable Train page | {_figure(summary['usable_page_s'], 's', 1)} | "
             f"{_mark(summary['usable_page_s'], TARGETS['usable_page_s'], 's')} |",
             f"| `make run` to the server answering | "
             f"{_figure(summary['server_answers_s'], 's', 1)} | |",
             f"| first Train on a fresh server to the first curve point (MNIST on disk) | "
             f"{_figure(summary['mnist_first_point_s'], 's', 2)} | "
             f"{_mark(summary['mnist_first_point_s'], TARGETS['mnist_first_point_s'], 's')} |",
             f"| first Train of CIFAR-10 to the first curve point (decoded cache warm) | "
             f"{_figure(summary['cifar_first_point_s'], 's', 2)} | "
             f"{_mark(summary['cifar_first_point_s'], TARGETS['cifar_first_point_s'], 's')} |",
             *[f"| ... of which server side: press to run started / to first point drawn "
               f"({which}) | {_figure(summary['press'][which]['started_ms'], 'ms')} / "
               f"{_figure(summary['press'][which]['first_point_ms'], 'ms')} "
               f"({_figure(summary['press'][which]['train_s'], 's', 2)} of it training) | |"
               for which in ("mnist", "cifar") if summary.get("press", {}).get(which, {})
               .get("first_point_ms", {}).get("n")],
             f"| Train page live refresh, p50 (n={summary['train_refreshes']}) | "
             f"{_figure(summary['train_refresh_p50_ms'], 'ms')} | |",
             f"| Train page live refresh, p95 | {_figure(summary['train_refresh_p95_ms'], 'ms')} | "
             f"{_mark(summary['train_refresh_p95_ms'], TARGETS['train_refresh_p95_ms'], 'ms')} |",
             f"| trainer inside the app, MNIST fast | "
             f"{_figure(summary['app_images_per_s'], 'images/s')} | |",
             "", "Inspect page live refresh while Small ResNet (CIFAR-10) trains, server side:",
             "", "| panel | p50 | p95 | n | target p50 | target p95 |",
             "|---|---:|---:|---:|---|---|"]
    for panel, stats in summary["inspect"].items():
        lines.append(f"| {panel} | {_figure(stats['p50_ms'], 'ms')} | "
                     f"{_figure(stats['p95_ms'], 'ms')} | {stats['n']} | "
                     f"{_mark(stats['p50_ms'], TARGETS['inspect_p50_ms'], 'ms')} | "
                     f"{_mark(stats['p95_ms'], TARGETS['inspect_p95_ms'], 'ms')} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds, each on a fresh server (figures: median and range)")
    parser.add_argument("--inspect-preset", default="Small ResNet (CIFAR-10)",
                        help="the preset's name as the Train page lists it")
    parser.add_argument("--cifar-preset", default="TinyVGG (CIFAR-10)",
                        help="the CIFAR-10 preset whose first Train is timed")
    parser.add_argument("--seconds-per-panel", type=float, default=6.0)
    parser.add_argument("--train-limit", type=float, default=120.0,
                        help="at most this many seconds of the MNIST fast run (then stopped)")
    parser.add_argument("--first-point-limit", type=float, default=60.0,
                        help="at most this many seconds for the CIFAR-10 first point")
    parser.add_argument("--root", default=str(ROOT),
                        help="the checkout whose app is timed (default: this one)")
    parser.add_argument("--server-python",
                        help="run the server with this interpreter (`make run PYTHON=...`, "
                             "skipping the .venv setup)")
    parser.add_argument("--markdown", help="write the figures into this file's UI section")
    parser.add_argument("--json", help="also write the whole result to this file")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 1
    result = run(args)
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    for target, value, limit, met in verdicts(result["summary"]):
        verdict = "not measured" if met is None else "met" if met else "MISSED"
        shown = "-" if value is None else f"{value:,.2f}"
        print(f"{target}: {shown} (limit {limit:g}): {verdict}", file=sys.stderr)
    if args.markdown:
        limit = "" if args.train_limit == 120 else f" --train-limit {args.train_limit:g}"
        command = (f"python scripts/ui_bench.py --repeats {args.repeats}{limit} "
                   "--markdown BENCHMARKS.md")
        write_section(args.markdown, SECTION, to_markdown(result, command))
        print(f"wrote {args.markdown}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
