"""Many classroom sessions at once against one app process: build, train, inspect.

    PLAYGROUND_DATA=../shared/data .venv/bin/python scripts/loadtest.py --sessions 20 --steps 300

Each session is a set of Streamlit AppTest pages in its own thread, all in this one
process, so they share what a `streamlit run` server shares: the run registry (one training
slot per CPU, a queue), the cached dataset, torch's threads. A session
1. opens the Build page with a share link of its own network (a first conv with its own
   channel count) and its own learning rate,
2. presses Train on the Train page and refreshes it every `--refresh` seconds, as the
   page's timer does, until its run of `--steps` steps has finished,
3. opens the Inspect page on its run,
4. leaves (its run is freed, as the registry does for a closed tab).
Checked: every session's run trained its own spec and settings, its page shows its own
accuracy, its history holds only its own runs (no cross-talk); the thread count returns
to where it was; peak memory. Measured: the time of every page refresh (p50/p95).
Prints one JSON object; `--markdown FILE` also writes the figures as a table.

AppTest was made for one test at a time: each run installs a mock Streamlit Runtime and a
config patch as process globals and removes them when done, which breaks the other
sessions' runs. Here one shared runtime stands for the server's (as in `streamlit run`,
where every session shares one), so that the sessions' page runs really overlap.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from contextlib import contextmanager, nullcontext
from unittest import mock

from streamlit import config as streamlit_config
from streamlit.runtime import Runtime
from streamlit.runtime.caching.storage.dummy_cache_storage import (
    MemoryCacheStorageManager)
from streamlit.runtime.dataframe_source_manager import DataframeSourceManager
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.scriptrunner.script_cache import ScriptCache
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest, app_test

from playground.data import datasets as D
from playground.data import shared
from playground import share
from playground import spec as S
from playground.train import trainer as T
from playground.train.threads import configure_threads
from playground.presets import load_preset
from playground.runs import RunRegistry, server

BATCH = 64
TIMEOUT = 120  # one page run on a saturated 2-core machine can take seconds
PAGE = f"""
import streamlit as st
from playground.ui import {{module}}
st.set_page_config(layout="wide")
{{before}}{{module}}.render()
"""
BUILD_PAGE = PAGE.replace("playground.ui import {module}",
                          "playground.ui.build import page as {module}").format(
    module="build_page", before="build_page.open_shared_lesson()\n")
TRAIN_PAGE = PAGE.format(module="train_page", before="")
INSPECT_PAGE = PAGE.format(module="inspect_page", before="")


@dataclass
class SessionResult:
    index: int
    refresh_seconds: list[float] = field(default_factory=list)  # Train page while training
    build_seconds: float = 0.0
    inspect_seconds: float = 0.0
    steps: int = 0
    refused: int = 0      # Train pressed while the server was at its active-run cap
    test_acc: float | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class LoadReport:
    sessions: int
    steps_per_session: int
    slots_per_cpu: int
    wall_seconds: float
    refreshes: int
    refresh_p50_ms: float
    refresh_p95_ms: float
    refresh_max_ms: float
    build_p50_ms: float
    inspect_p50_ms: float
    train_refused: int
    rss_start_mb: float
    rss_peak_mb: float
    rss_end_mb: float
    threads_before: int
    threads_during_max: int
    threads_after: int
    problems: list[str]

    def markdown(self, command: str) -> str:
        rows = [("sessions at once", self.sessions),
                ("training steps per session (batch 64)", self.steps_per_session),
                ("training slots per CPU", self.slots_per_cpu),
                ("wall time", f"{self.wall_seconds:.0f} s"),
                ("Train page refreshes timed", self.refreshes),
                ("refresh p50 / p95 / max", f"{self.refresh_p50_ms:.0f} / "
                 f"{self.refresh_p95_ms:.0f} / {self.refresh_max_ms:.0f} ms"),
                ("Train refused at the server's active-run cap, then retried",
                 self.train_refused),
                ("Build page open, p50", f"{self.build_p50_ms:.0f} ms"),
                ("Inspect page open, p50", f"{self.inspect_p50_ms:.0f} ms"),
                ("memory (RSS) at start / peak / end",
                 f"{self.rss_start_mb:.0f} / {self.rss_peak_mb:.0f} / {self.rss_end_mb:.0f} MB"),
                ("threads before / most during / after",
                 f"{self.threads_before} / {self.threads_during_max} / {self.threads_after}"),
                ("cross-talk or other problems", len(self.problems) or "none")]
        body = "\n".join(f"| {name} | {value} |" for name, value in rows)
        return f"`{command}`\n\n| figure | value |\n|---|---:|\n{body}\n"


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Sampler:
    """Peak memory and thread count, sampled in a thread of its own."""

    def __init__(self, every: float = 0.2):
        self.every, self.peak_rss, self.peak_threads = every, rss_mb(), threading.active_count()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="load-sampler", daemon=True)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._done.wait(self.every):
            self.peak_rss = max(self.peak_rss, rss_mb())
            self.peak_threads = max(self.peak_threads, threading.active_count() - 1)


@contextmanager
def one_shared_runtime():
    """Every AppTest run in this process sees one runtime, whatever each run installs."""
    shared = mock.MagicMock(spec=Runtime)
    shared.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    shared.cache_storage_manager = MemoryCacheStorageManager()
    shared.dataframe_source_mgr = DataframeSourceManager()
    app_test_option = streamlit_config.get_option("global.appTest")
    streamlit_config.set_option("global.appTest", True)  # each run restores what it found
    # Each run also wraps config.get_option for its duration; overlapping runs would stack
    # those wrappers without end. The one option it sets is set for the whole test instead.
    # A server also compiles each page once, in one shared cache: compiling the same page in
    # many threads at once trips CPython 3.11's "AST constructor recursion depth mismatch".
    scripts = ScriptCache()
    compile_once = threading.Lock()
    get_bytecode = ScriptCache.get_bytecode

    def locked_get_bytecode(cache, path):
        with compile_once:
            return get_bytecode(cache, path)

    with mock.patch.object(Runtime, "instance", classmethod(lambda cls: shared)), \
            mock.patch.object(Runtime, "exists", classmethod(lambda cls: True)), \
            mock.patch.object(app_test, "patch_config_options", lambda options: nullcontext()), \
            mock.patch.object(app_test, "ScriptCache", lambda: scripts), \
            mock.patch.object(ScriptCache, "get_bytecode", locked_get_bytecode):
        try:
            yield shared
        finally:
            streamlit_config.set_option("global.appTest", app_test_option)


def session_lesson(index: int) -> S.ModelSpec:
    """A network and settings only this session has: cross-talk would show."""
    base = load_preset("mnist_fast")
    first = dataclasses.replace(base.layers[0], out_channels=4 + index)
    return base.replace(name=f"session {index}", layers=[first, *base.layers[1:]],
                        training=S.TrainingSpec(dataset="mnist", optimizer="adam",
                                                lr=round(0.001 + 0.0001 * index, 6),
                                                batch_size=BATCH, epochs=1, seed=index))


def timed_run(at: AppTest) -> float:
    started = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"page raised: {at.exception[0].message}")
    return elapsed


def run_session(index: int, refresh: float, result: SessionResult) -> None:
    lesson = session_lesson(index)
    build = AppTest.from_string(BUILD_PAGE, default_timeout=TIMEOUT)
    build.query_params[share.PARAM] = share.encode(lesson)
    result.build_seconds = timed_run(build)
    built = build.session_state["spec"]
    if built != lesson:
        result.problems.append(f"session {index}: the Build page holds {built.name!r}")

    page = AppTest.from_string(TRAIN_PAGE, default_timeout=TIMEOUT)
    page.session_state["spec"] = built
    timed_run(page)
    executor = server.executor()
    run_id = press_train(page, index, result)
    while executor.status(run_id).state not in (T.FINISHED, T.STOPPED, T.FAILED):
        time.sleep(refresh)
        result.refresh_seconds.append(timed_run(page))
    result.refresh_seconds.append(timed_run(page))  # the finished page
    status = executor.status(run_id)
    result.steps, result.test_acc = status.step, executor.records(run_id).evals[-1].test_acc
    shown = next((m.value for m in page.metric if m.label == "Test accuracy"), None)
    checks = {
        "state": status.state == T.FINISHED,
        "spec": status.spec == lesson,
        "lr": status.config.lr == lesson.training.lr,
        "channels": executor.latest_weights(run_id)[1]["0.weight"].shape[0] == 4 + index,
        "shown accuracy": shown == f"{result.test_acc:.1%}",
        "history": all(executor.owner_of(s.run_id) == status.owner
                       for s in executor.history(status.owner)),
    }
    result.problems += [f"session {index}: {name} ({status.state}: {status.message})"
                        for name, ok in checks.items() if not ok]

    inspect = AppTest.from_string(INSPECT_PAGE, default_timeout=TIMEOUT)
    inspect.session_state["run_id"] = run_id
    result.inspect_seconds = timed_run(inspect)
    if not inspect.get("plotly_chart"):
        result.problems.append(f"session {index}: the Inspect page shows no figure")
    executor.free(run_id)  # the tab closes; the registry frees the run


def press_train(page: AppTest, index: int, result: SessionResult,
                patience: float = 900.0) -> str:
    """Press Train; while the server is at its cap of active runs, wait and press again,
    as a student told "try later" does."""
    deadline = time.monotonic() + patience
    while True:
        button = next(b for b in page.button if b.label == "Train")
        button.click()
        timed_run(page)
        if "run_id" in page.session_state:
            return page.session_state["run_id"]
        errors = " ".join(e.value for e in page.error)
        if "active training runs" not in errors or time.monotonic() > deadline:
            raise RuntimeError(f"Train did not start a run: {errors or 'no message'}")
        result.refused += 1
        time.sleep(2.0)


def percentile(values: list[float], share_: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share_ * (len(ordered) - 1))))]


def subset(steps: int) -> D.Dataset:
    """Real MNIST, cut so that one epoch is `steps` batches of 64 (1,000 test images)."""
    full = D.load_dataset("mnist")
    return dataclasses.replace(full, train_x=full.train_x[:steps * BATCH],
                               train_y=full.train_y[:steps * BATCH],
                               test_x=full.test_x[:1000], test_y=full.test_y[:1000])


def load_test(sessions: int = 20, steps: int = 300, refresh: float = 1.0,
              slots: int | None = None, settle_seconds: float = 30.0) -> LoadReport:
    data = subset(steps)
    registry = server.executor().registry
    load_dataset, cpu_slots = shared.dataset, registry.slots["cpu"]
    shared.dataset = lambda name: data  # every session shares one loaded dataset
    if slots is not None:
        registry.slots["cpu"] = slots
    try:
        with one_shared_runtime():
            return _load_test(registry, sessions, steps, refresh, settle_seconds)
    finally:
        shared.dataset, registry.slots["cpu"] = load_dataset, cpu_slots


def _load_test(registry: RunRegistry, sessions: int, steps: int, refresh: float,
               settle_seconds: float) -> LoadReport:
    # Warm up: the first page run imports and starts what a server has before anyone comes.
    AppTest.from_string(BUILD_PAGE, default_timeout=TIMEOUT).run()
    threads_before, rss_start = threading.active_count(), rss_mb()
    results = [SessionResult(i) for i in range(sessions)]

    def guarded(result: SessionResult) -> None:
        try:
            run_session(result.index, refresh, result)
        except Exception as error:  # reported, not raised: the other sessions go on
            result.problems.append(f"session {result.index}: {type(error).__name__}: {error}")

    started = time.perf_counter()
    with Sampler() as sampler:
        workers = [threading.Thread(target=guarded, args=(r,), name=f"session-{r.index}")
                   for r in results]
        for worker in workers:
            worker.start()
            time.sleep(0.05)
        for worker in workers:
            worker.join()
    wall = time.perf_counter() - started
    deadline = time.monotonic() + settle_seconds
    while threading.active_count() > threads_before and time.monotonic() < deadline:
        time.sleep(0.2)
    threads_after = threading.active_count()
    refreshes = [s for r in results for s in r.refresh_seconds]
    problems = [p for r in results for p in r.problems]
    if threads_after > threads_before:
        problems.append("threads left: " + ", ".join(
            t.name for t in threading.enumerate())[:500])
    ms = [s * 1000 for s in refreshes] or [float("nan")]
    return LoadReport(
        sessions=sessions, steps_per_session=steps, slots_per_cpu=registry.slots["cpu"],
        wall_seconds=wall, refreshes=len(refreshes), refresh_p50_ms=percentile(ms, 0.5),
        refresh_p95_ms=percentile(ms, 0.95), refresh_max_ms=max(ms),
        build_p50_ms=statistics.median(r.build_seconds * 1000 for r in results),
        inspect_p50_ms=statistics.median(
            [r.inspect_seconds * 1000 for r in results if r.inspect_seconds] or [0.0]),
        train_refused=sum(r.refused for r in results),
        rss_start_mb=rss_start, rss_peak_mb=sampler.peak_rss, rss_end_mb=rss_mb(),
        threads_before=threads_before, threads_during_max=sampler.peak_threads,
        threads_after=threads_after, problems=problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--refresh", type=float, default=1.0,
                        help="seconds between Train page refreshes of one session")
    parser.add_argument("--slots", type=int, help="training slots per CPU (default: the "
                                                  "server's, PLAYGROUND_RUNS_PER_CPU or 1)")
    parser.add_argument("--markdown", help="append the figures as a table to this file")
    args = parser.parse_args(argv)
    configure_threads()
    report = load_test(args.sessions, args.steps, args.refresh, args.slots)
    print(json.dumps(dataclasses.asdict(report)))
    if args.markdown:
        command = "python scripts/loadtest.py " + " ".join(argv or sys.argv[1:])
        with open(args.markdown, "a", encoding="utf-8") as out:
            out.write(report.markdown(command) + "\n")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
