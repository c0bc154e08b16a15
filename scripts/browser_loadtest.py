"""A class in real browsers against one real server: N students train, some close their tab
mid-run, and the places those tabs held must come back to the students still waiting.

    PLAYGROUND_DATA=../shared/data .venv/bin/python scripts/browser_loadtest.py \\
        --sessions 20 --leave 5

It starts `streamlit run app.py` (the server's own INFO log on, so the registry's "run ...
released" lines carry their times) and one headless Chromium with one browser context per
student (each its own cookies, so its own owner). Every student opens the Train page, sets
the epochs and presses Train. The server's cap on active runs (PLAYGROUND_MAX_RUNS, 8 by
default) accepts the first ones; the rest are refused with the cap's line and press again
every `--retry` seconds, as a student would. Once the accepted runs train, `--leave` of
those students close their browser (tab and connection gone, run mid-epoch). The script
goes on until every student still there has a run, or `--timeout`.

Checked and printed (one JSON object; `--markdown FILE` adds a table):
- for each closed tab: seconds from the close to the server releasing its run (from the
  server's log), and the bound (the release delay plus one sweep);
- refused presses while some closed tab's run had been gone longer than the bound and was
  still not released: must be 0 (no student is refused for a tab nobody has open);
- seconds from each release to a waiting student's Train being accepted;
- the server's RSS (its whole process) when started, once every student's page is open,
  at the peak, and after every student left and every run was released.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from playground.bench.browser import CHROMIUM, CHROMIUM_FLAGS, free_port

ROOT = Path(__file__).resolve().parent.parent
RELEASED = re.compile(r"^(?P<clock>[\d.]+) .*run (?P<run>\S+) released: no connected page")
REFUSED = re.compile(r"active training runs \(limit \d+\)")
STEP_TEXT = re.compile(r"^step [\d,]+ of")
# Release delay (runs.registry.DISCONNECTED_RELEASE_SECONDS) plus the reaper's sweep and
# Streamlit's own notice of a closed websocket.
RELEASE_BOUND_SECONDS = 60.0
SERVER_WRAPPER = (
    "import logging, sys, time\n"
    "logging.basicConfig(level=logging.WARNING, stream=sys.stdout,\n"
    "                    format='%(created).3f %(name)s %(message)s')\n"
    "logging.getLogger('playground').setLevel(logging.INFO)\n"
    "from streamlit.web.cli import main\n"
    "sys.argv = ['streamlit', 'run'] + sys.argv[1:]\n"
    "main()\n")


@dataclass
class Student:
    number: int
    context: BrowserContext
    page: Page
    run_id: str | None = None
    accepted_at: float | None = None
    refusals: list[float] = field(default_factory=list)
    left_at: float | None = None


@dataclass
class ServerLog:
    """The server's output, read in a thread: release times by run id (wall clock)."""

    process: subprocess.Popen
    released: dict[str, float] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def follow(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            match = RELEASED.match(line)
            if match:
                self.released[match["run"]] = float(match["clock"])
                print(line.rstrip(), file=sys.stderr)


class RssSampler:
    """The server process's resident memory, sampled every `every` seconds."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def now_mb(self) -> float:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.time(), self.now_mb()))
            except OSError:
                return
            self._stop.wait(self.every)

    def peak_mb(self) -> float:
        return max(mb for _, mb in self.samples)

    def stop(self) -> None:
        self._stop.set()


def start_server(max_runs: int, state_dir: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, PLAYGROUND_MAX_RUNS=str(max_runs), PLAYGROUND_STATE=state_dir)
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER_WRAPPER, str(ROOT / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    deadline = time.monotonic() + 90
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start:\n" + (process.stdout.read() or ""))
            time.sleep(0.3)


def open_student(browser: Browser, server: str, number: int, epochs: int) -> Student:
    context = browser.new_context(viewport={"width": 1100, "height": 700})
    page = context.new_page()
    page.goto(server)
    title = page.get_by_role("heading", name="Train a CNN, live")
    navigation = page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Train")
    title.or_(navigation).first.wait_for(timeout=120_000)
    if not title.count():
        navigation.first.click()
    title.wait_for(timeout=120_000)
    field_ = page.get_by_label("Epochs")
    field_.wait_for(timeout=60_000)
    field_.fill(str(epochs))
    field_.press("Enter")
    return Student(number, context, page)


def has_run(student: Student) -> bool:
    """The page shows a run of this student's (its step line and its address)."""
    match = re.search(r"[?&]run=([^&]+)", student.page.url)
    if match and student.page.get_by_text(STEP_TEXT).count():
        student.run_id = match.group(1)
        return True
    return False


def press_train(student: Student) -> str:
    """Press Train once: "accepted", "refused" or "unknown" (the page did not say yet).
    A page that already shows its run (accepted by an earlier press) is not pressed again."""
    if has_run(student):
        return "accepted"
    page = student.page
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_timeout(1500)   # the refusal of the previous press may still be drawn
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if has_run(student):
            return "accepted"
        if page.get_by_text(REFUSED).count():
            return "refused"
        page.wait_for_timeout(250)
    return "unknown"


def overdue_gone_runs(students: list[Student], log: ServerLog, now: float) -> list[str]:
    """Runs of closed tabs gone longer than the bound and still not released."""
    return [s.run_id for s in students
            if s.left_at is not None and s.run_id is not None
            and now - s.left_at > RELEASE_BOUND_SECONDS and s.run_id not in log.released]


def run(args: argparse.Namespace) -> dict:
    state_dir = tempfile.mkdtemp(prefix="loadtest-state-")
    process, server = start_server(args.max_runs, state_dir)
    log = ServerLog(process)
    threading.Thread(target=log.follow, daemon=True).start()
    rss = RssSampler(process.pid)
    time.sleep(2)
    rss_before = rss.now_mb()
    results: dict = {"sessions": args.sessions, "leave": args.leave, "max_runs": args.max_runs,
                     "epochs": args.epochs, "load_average_start": os.getloadavg()[0]}
    refusals_while_overdue = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        opened = time.time()
        students = [open_student(browser, server, n, args.epochs) for n in range(args.sessions)]
        results["seconds_to_open_all"] = round(time.time() - opened, 1)
        rss_open = rss.now_mb()
        waiting = list(students)
        started = time.time()
        left = False
        round_starts: list[float] = []
        while waiting and time.time() - started < args.timeout:
            round_starts.append(time.time())
            for student in list(waiting):
                outcome = press_train(student)
                now = time.time()
                print(f"{now:.1f} student {student.number} {outcome}", file=sys.stderr)
                if outcome == "accepted":
                    student.accepted_at = now
                    waiting.remove(student)
                elif outcome == "refused":
                    student.refusals.append(now)
                    if overdue_gone_runs(students, log, now):
                        refusals_while_overdue += 1
            active = [s for s in students if s.accepted_at and s.left_at is None]
            if not left and len(active) >= min(args.max_runs, args.sessions) \
                    and time.time() - min(s.accepted_at for s in active) >= args.leave_after:
                for student in active[-args.leave:]:   # some of them queued, some training
                    student.context.close()
                    student.left_at = time.time()
                    print(f"{student.left_at:.1f} student {student.number} closed its browser "
                          f"(run {student.run_id})", file=sys.stderr)
                left = True
            time.sleep(args.retry)
        results["load_average_end"] = os.getloadavg()[0]
        leavers = [s for s in students if s.left_at is not None]
        release_seconds = [round(log.released[s.run_id] - s.left_at, 1) for s in leavers
                           if s.run_id in log.released]
        release_times = sorted(log.released[s.run_id] for s in leavers
                               if s.run_id in log.released)
        later = sorted(s.accepted_at for s in students
                       if s.accepted_at and release_times and s.accepted_at > release_times[0])
        round_seconds = [b - a for a, b in zip(round_starts, round_starts[1:])]
        results.update({
            "accepted": sum(1 for s in students if s.accepted_at),
            "still_waiting_at_end": len(waiting),
            "refused_presses": sum(len(s.refusals) for s in students),
            "tabs_closed": len(leavers),
            "close_to_release_seconds": release_seconds,
            "not_released": [s.run_id for s in leavers if s.run_id not in log.released],
            "release_bound_seconds": RELEASE_BOUND_SECONDS,
            "refused_while_a_closed_tab_was_overdue": refusals_while_overdue,
            # The n-th release against the n-th Train accepted after the first release.
            # The script presses the waiting students' Train one after another, so an
            # accept can come up to one round of presses after the place was free.
            "release_to_next_accept_seconds": [
                round(accept - release, 1) for release, accept in zip(release_times, later)],
            "press_round_seconds_median": (round(sorted(round_seconds)[len(round_seconds) // 2], 1)
                                           if round_seconds else None),
        })
        peak = rss.peak_mb()
        for student in students:
            if student.left_at is None:
                student.context.close()
                student.left_at = time.time()
        deadline = time.time() + RELEASE_BOUND_SECONDS + 30
        holders = [s.run_id for s in students if s.run_id]
        while time.time() < deadline and any(r not in log.released for r in holders):
            time.sleep(1)
        time.sleep(3)
        results["runs_released_after_all_left"] = sum(1 for r in holders if r in log.released)
        results["runs_made"] = len(holders)
        browser.close()
    results["rss_mb"] = {"before": round(rss_before), "pages_open": round(rss_open), "peak": round(max(peak, rss.peak_mb())),
                         "after": round(rss.now_mb())}
    rss.stop()
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(20)
    return results


def markdown(results: dict) -> str:
    rss = results["rss_mb"]
    rows = [
        ("browser sessions (contexts) / closed mid-run", f"{results['sessions']} / {results['tabs_closed']}"),
        ("server cap on active runs", results["max_runs"]),
        ("Train accepted / refused presses (retried every few s)",
         f"{results['accepted']} / {results['refused_presses']}"),
        ("closed tab to its run released (s, each)",
         ", ".join(f"{s:.1f}" for s in results["close_to_release_seconds"]) or "none"),
        ("bound", f"{results['release_bound_seconds']:.0f} s"),
        ("closed tabs never released", len(results["not_released"])),
        ("refused while a closed tab's run was past the bound", results["refused_while_a_closed_tab_was_overdue"]),
        ("release to a waiting student's Train accepted (s)",
         ", ".join(f"{s:.1f}" for s in results["release_to_next_accept_seconds"]) or "none"),
        ("one round of presses by the waiting students (median, s)",
         results["press_round_seconds_median"]),
        ("runs released after every student left", f"{results['runs_released_after_all_left']} of {results['runs_made']}"),
        ("server RSS: started / every page open / peak / after all left",
         f"{rss['before']} / {rss['pages_open']} / {rss['peak']} / {rss['after']} MB"),
        ("load average at start / end", f"{results['load_average_start']:.1f} / {results['load_average_end']:.1f}"),
    ]
    return "\n".join(["| figure | value |", "|---|---:|"]
                     + [f"| {name} | {value} |" for name, value in rows]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--leave", type=int, default=5, help="students who close their tab mid-run")
    parser.add_argument("--max-runs", type=int, default=8, help="the server's cap on active runs")
    parser.add_argument("--epochs", type=int, default=5, help="long enough to be mid-run when they leave")
    parser.add_argument("--leave-after", type=float, default=10.0,
                        help="seconds after the class is full before the students leave")
    parser.add_argument("--retry", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    results = run(args)
    print(json.dumps(results))
    if args.markdown:
        args.markdown.write_text(markdown(results))


if __name__ == "__main__":
    main()
