"""A classroom on each backend, in one process, on this machine: N sessions each train the
MNIST fast preset (2 epochs, four evaluations per epoch as the Train page asks) while a
page-like reader refreshes every run every second (touch, status, then records since the
last step it has, as the Train page does). Prints per backend: the makespan, each run's time
from Train to its first test accuracy of 98% or more, start overhead (Train to first
record), refresh p50/p95, and CPU-seconds per run.

    PLAYGROUND_DATA=../shared/data .venv/bin/python scripts/classroom_backends.py --sessions 4

The Ray backend gets a local head with the same cores (`--cpus`, default all); each run
reserves PLAYGROUND_CPUS_PER_RUN cores (default 1), so Ray trains cores/1 runs at once,
where the thread backend trains one run at a time on every core (PLAYGROUND_RUNS_PER_CPU).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import threading
import time

from playground import presets, spec as S
from playground.runs import LocalExecutor, RunOptions
from playground.runs.store import InMemoryStore

TARGET = 0.98
OPTIONS = RunOptions(evals_per_epoch=4, record_norms=True, keep_predictions=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0


def classroom(executor, sessions: int) -> dict:
    spec = presets.load_preset("mnist_fast")
    config = S.resolve_training(spec.training)
    refreshes: list[float] = []
    results: dict[int, dict] = {}
    started = time.monotonic()

    def session(number: int) -> None:
        owner = f"student-{number}"
        pressed = time.monotonic()
        run_id = executor.create(owner, spec, config, "mnist", "cpu", OPTIONS)
        executor.start(run_id, owner=owner)
        have, first_record, reached = 0, None, None
        while True:
            time.sleep(1.0)
            t = time.monotonic()
            executor.touch(run_id)  # the page shows it (else the idle pause comes)
            status = executor.status(run_id)
            new = executor.records(run_id, have)
            refreshes.append(time.monotonic() - t)
            have = new.through_step
            if first_record is None and new.steps:
                first_record = time.monotonic() - pressed
            if reached is None and any(e.test_acc >= TARGET for e in new.evals):
                reached = time.monotonic() - pressed
            if status.state in ("finished", "stopped", "failed"):
                break
        results[number] = dict(to_target=reached, first_record=first_record,
                               train_seconds=status.train_seconds, state=status.state)
        executor.free(run_id, owner=owner)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(sessions)]
    for thread in threads:
        thread.start()
        time.sleep(0.2)
    for thread in threads:
        thread.join()
    makespan = time.monotonic() - started
    to_target = [r["to_target"] for r in results.values() if r["to_target"] is not None]
    firsts = [r["first_record"] for r in results.values() if r["first_record"] is not None]
    return dict(sessions=sessions, makespan_s=round(makespan, 1),
                reached_98=len(to_target),
                to_target_p50_s=round(percentile(to_target, 0.5), 1),
                to_target_max_s=round(max(to_target, default=0), 1),
                first_record_p50_s=round(percentile(firsts, 0.5), 2),
                train_seconds_mean=round(statistics.mean(r["train_seconds"]
                                                         for r in results.values()), 1),
                refreshes=len(refreshes),
                refresh_p50_ms=round(1000 * percentile(refreshes, 0.5), 2),
                refresh_p95_ms=round(1000 * percentile(refreshes, 0.95), 2))


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    parser.add_argument("--backends", default="local,ray")
    args = parser.parse_args()
    print(json.dumps({"load_average_before": os.getloadavg()}), flush=True)
    for backend in args.backends.split(","):
        cpu_before = time.process_time()
        if backend == "local":
            executor = LocalExecutor(store=InMemoryStore(), max_active=args.sessions)
        else:
            os.environ.setdefault("RAY_AUTH_MODE", "token")
            from playground.runs import ray_cluster
            from playground.runs.ray_executor import RayExecutor
            ray_cluster.connect(None, num_cpus=args.cpus, object_store_memory=300 * 2**20)
            executor = RayExecutor(store_folder="", registry_name="classroom",
                                   stop_runs_on_close=True, max_active=args.sessions)
        figures = classroom(executor, args.sessions)
        executor.close()
        figures.update(backend=backend, load_average_after=os.getloadavg(),
                       this_process_cpu_s=round(time.process_time() - cpu_before, 1))
        print(json.dumps(figures), flush=True)
        if backend == "ray":
            import ray
            ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
