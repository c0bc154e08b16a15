"""Training throughput with each Inspect panel on what the network sees open, against the
Trainer alone and with the plain live inspection: the benchmark's (c), (d) and
"(d) + panel" rows only, round robin, medians of same-round ratios. The whole benchmark
(`python -m playground bench --seeing-panels`) also times the canonical and tight loops.

    PLAYGROUND_DATA=... python scripts/seeing_panels_bench.py [--steps 800] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys

import torch

from playground import spec as S
from playground.bench import benchmark as B
from playground.bench import live_panels as LP
from playground.data import datasets as D


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default=str(B.DEFAULT_SPEC))
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model_spec = S.load_spec(args.spec)
    dataset = D.load_dataset("mnist")
    config = B.bench_config(model_spec, "mnist", args.warmup + args.steps + 1,
                            len(dataset.train_y))
    device = torch.device("cpu")
    rows = {"c": {}, "d": dict(live_inspection=True),
            **{f"d+{panel}": dict(live_inspection=True, panel=panel) for panel in LP.PANELS}}
    rates: dict[str, list[float]] = {key: [] for key in rows}
    notes: dict[str, str] = {}
    for repeat in range(args.repeats):
        for key, options in rows.items():
            result = B.in_thread(1, B.measure_trainer, model_spec, config, dataset, device,
                                 args.steps, args.warmup, **options)
            rates[key].append(result.images_per_s)
            notes[key] = result.note
            print(f"round {repeat + 1} {key}: {result.images_per_s:,.0f} images/s, load "
                  f"{result.load:.1f}; {result.note}", file=sys.stderr, flush=True)
    print(f"| row | median images/s | median same-round ratio to (c) | last note |")
    print("|---|---:|---:|---|")
    for key in rows:
        ratio = statistics.median(r / c for r, c in zip(rates[key], rates["c"]))
        print(f"| {key} | {statistics.median(rates[key]):,.0f} | {ratio:.2f}x | "
              f"{notes[key]} |")


if __name__ == "__main__":
    main()
