"""What a whole `train --target-acc` command costs beyond its training and torch's import.

    PLAYGROUND_DATA=../shared/data .venv/bin/python scripts/command_overhead.py [--rounds 5]

Each round runs two whole processes back to back: `python -c "import torch, torchvision"`
(what any torch program pays before its first line) and
`python -m playground train assets/presets/mnist_fast.json --dataset mnist --target-acc
0.98 --json`. Per round, overhead = the command's wall time - its train_seconds - that
round's import time: data loading, analysis, evaluations and whatever else the command adds.
Prints every round, then the median and range of each figure. Not a test: it times.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT / "assets" / "presets" / "mnist_fast.json"
IMPORT_ONLY = "import torch, torchvision"


@dataclass
class Round:
    wall: float            # seconds, the whole train command
    train_seconds: float   # from its final JSON line
    import_seconds: float  # seconds, `python -c "import torch, torchvision"`
    test_acc: float
    time_to_target: float | None

    @property
    def overhead(self) -> float:
        return self.wall - self.train_seconds - self.import_seconds


def timed(command: list[str]) -> tuple[float, str]:
    """(wall seconds, stdout) of one process; raises if it fails."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): "
                         f"{result.stderr.strip()[-500:]}")
    return wall, result.stdout


def one_round(python: str, train_args: list[str]) -> Round:
    import_seconds, _ = timed([python, "-c", IMPORT_ONLY])
    wall, out = timed([python, "-m", "playground", "train", *train_args, "--json"])
    final = json.loads(out.splitlines()[-1])
    return Round(wall, final["train_seconds"], import_seconds, final["test_acc"],
                 final["time_to_target"])


def spread(values: list[float]) -> str:
    return (f"median {statistics.median(values):6.2f} s  "
            f"(range {min(values):.2f} to {max(values):.2f})")


def report(rounds: list[Round]) -> str:
    lines = [f"{'round':>5}  {'wall':>6}  {'train':>6}  {'import':>6}  {'overhead':>8}  "
             f"{'test_acc':>8}  time_to_target"]
    for number, r in enumerate(rounds, 1):
        target = "-" if r.time_to_target is None else f"{r.time_to_target:.2f}"
        lines.append(f"{number:>5}  {r.wall:6.2f}  {r.train_seconds:6.2f}  "
                     f"{r.import_seconds:6.2f}  {r.overhead:8.2f}  {r.test_acc:8.4f}  {target}")
    lines += ["",
              f"wall           {spread([r.wall for r in rounds])}",
              f"train_seconds  {spread([r.train_seconds for r in rounds])}",
              f"import         {spread([r.import_seconds for r in rounds])}",
              f"overhead       {spread([r.overhead for r in rounds])}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--spec", default=str(DEFAULT_SPEC))
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--target-acc", default="0.98")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter both processes run in")
    args = parser.parse_args()
    train_args = [args.spec, "--dataset", args.dataset, "--target-acc", args.target_acc]
    rounds = []
    for number in range(args.rounds):
        rounds.append(one_round(args.python, train_args))
        print(f"round {number + 1}: overhead {rounds[-1].overhead:.2f} s", file=sys.stderr,
              flush=True)
    print(report(rounds))


if __name__ == "__main__":
    main()
