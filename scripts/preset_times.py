"""Time to accuracy of the fast presets alone: MNIST 99% to 99%, CIFAR-10 fast to 70% and
80%, each the median of `--repeats` runs, without the rest of `make bench` (whose TinyVGG
runs alone take half an hour on a 2-core CPU).

    PLAYGROUND_DATA=../shared/data .venv/bin/python scripts/preset_times.py \\
        [--repeats 3] [--only mnist|cifar] [--markdown BENCHMARKS.md]

The runs are the benchmark's own (`playground.bench.benchmark.repeated_times_to_accuracies`:
the Trainer with `target_acc`, ten checks per epoch on a 2,000-image subset, every reported
accuracy confirmed on the whole test set; 70% is confirmed in the same run as it is
passed). Prints the table; `--markdown` rewrites this script's section of the file.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

from playground.bench import benchmark as B
from playground.bench.report import write_section
from playground.data import datasets as D
from playground.train.device import pick_device
from playground.train.threads import cpu_cores

SECTION = "scripts/preset_times.py"
PRESETS = {  # dataset: (preset file, {target: seconds of training allowed})
    "mnist": (B.MNIST_99_SPEC, {0.99: 10.0}),
    "cifar": (B.CIFAR_FAST_SPEC, {0.70: 60.0, 0.80: 300.0}),
}
DATASET_NAMES = {"mnist": "mnist", "cifar": "cifar10"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=sorted(PRESETS))
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--markdown")
    args = parser.parse_args()
    device = pick_device("auto")
    root = D.default_data_dir()
    runs = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for key in ([args.only] if args.only else list(PRESETS)):
        spec_path, budgets = PRESETS[key]
        print(f"loading {DATASET_NAMES[key]}...", flush=True)
        dataset = D.load_dataset(DATASET_NAMES[key], root)
        print(f"{spec_path.name}: {args.repeats} runs to {max(budgets):.0%}...", flush=True)
        runs += B.fast_preset_runs(spec_path, dataset, budgets, args.repeats, cpu_cores(),
                                    device, args.max_seconds)
    lines = [f"Measured {started} on {platform.processor() or platform.machine()}, "
             f"{cpu_cores()} cores, {device}; load average at the end "
             f"{os.getloadavg()[0]:.1f}.", "",
             f"`{' '.join(['scripts/preset_times.py', f'--repeats {args.repeats}'] + ([f'--only {args.only}'] if args.only else []))}`",
             ""] + B.accuracy_table(runs)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        write_section(args.markdown, SECTION, text)


if __name__ == "__main__":
    main()
