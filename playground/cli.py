"""`python -m playground summary|train|bench|export|serve`: the playground without a browser
(DESIGN.md, CLI).

Bad input exits 2 and runtime failures exit 1, each with one line on stderr; never a
traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from playground import spec as S
from playground.bench.report import write_section

# BENCHMARKS.md's section that `bench --markdown` rewrites (the rest of the file stays).
TRAINING_SECTION = "python -m playground bench"

EXIT_BAD_INPUT, EXIT_RUNTIME = 2, 1
# playground.exports.FORMATS, repeated so that parsing the flags imports no torch
EXPORT_FORMATS = ("onnx", "safetensors", "pytorch")


class CliError(Exception):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one line (its own usage dump is noisy)."""

    def error(self, message: str):
        raise CliError(message, EXIT_BAD_INPUT)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise ValueError
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError
    return value


_positive_int.__name__ = "positive integer"
_probability.__name__ = "accuracy in (0, 1]"
_positive_float.__name__ = "positive number"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m playground",
                     description="CNN Playground on the command line.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    summary = commands.add_parser("summary", help="per-layer shapes, parameters and "
                                                  "receptive fields of a spec")
    summary.add_argument("spec", help="spec JSON file")
    summary.add_argument("--json", action="store_true", help="print JSON")

    train = commands.add_parser("train", help="train a spec on a dataset")
    train.add_argument("spec", help="spec JSON file")
    train.add_argument("--dataset", help="mnist, fashion-mnist, cifar10 or folder:PATH")
    train.add_argument("--data-dir", help="dataset folder (default: $PLAYGROUND_DATA)")
    train.add_argument("--epochs", type=_positive_int)
    train.add_argument("--batch-size", type=_positive_int)
    train.add_argument("--lr", type=_positive_float)
    train.add_argument("--optimizer", choices=S.OPTIMIZERS)
    train.add_argument("--momentum", type=float)
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--schedule", choices=S.SCHEDULES)
    train.add_argument("--augment", action="store_true", default=None)
    train.add_argument("--label-smoothing", type=float)
    train.add_argument("--nesterov", action=argparse.BooleanOptionalAction,
                       help="Nesterov momentum for SGD (unset: on whenever momentum > 0)")
    train.add_argument("--warmup-fraction", type=float,
                       help="share of the steps that ramp the learning rate up")
    train.add_argument("--ema-decay", type=float,
                       help="evaluate an exponential moving average of the weights")
    train.add_argument("--test-flip", action=argparse.BooleanOptionalAction,
                       help="evaluate on each test image and its mirror image")
    train.add_argument("--cpu-bf16", action=argparse.BooleanOptionalAction,
                       help="bf16 autocast on a CPU with native bf16 (AVX512-BF16, AMX)")
    train.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                       help="NHWC memory layout for activations and weights")
    train.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    train.add_argument("--seed", type=int)
    train.add_argument("--target-acc", type=_probability,
                       help="stop when the test accuracy reaches this (0-1)")
    train.add_argument("--max-seconds", type=_positive_float)
    train.add_argument("--limit-train", type=_positive_int,
                       help="use a fixed random subset of N training images (the same "
                            "subset on every run)")
    train.add_argument("--save", help="write the trained state_dict (.pt) here")
    train.add_argument("--compile", action="store_true",
                       help="torch.compile the training step (faster steps after seconds "
                            "of compiling)")
    train.add_argument("--json", action="store_true", help="one JSON object per line")

    export = commands.add_parser("export", help="trained weights and network in an open "
                                                "format: ONNX, .safetensors or PyTorch code")
    export.add_argument("spec", help="spec JSON file")
    export.add_argument("--weights", required=True,
                        help="trained weights for the spec (.pt or .safetensors)")
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS,
                        help="onnx (opset 18), safetensors, or pytorch (a .zip of the code "
                             "and its .safetensors weights)")
    export.add_argument("-o", "--output", required=True, help="file to write")

    bench = commands.add_parser("bench", help="training speed: the canonical loop, a tight "
                                              "loop and the Trainer side by side")
    bench.add_argument("--spec", help="spec JSON file (default: the MNIST fast preset)")
    bench.add_argument("--steps", type=_positive_int, default=300,
                       help="measured steps per loop (default 300)")
    bench.add_argument("--warmup", type=_positive_int, default=20,
                       help="warm-up steps before each measurement (default 20)")
    bench.add_argument("--repeats", type=_positive_int, default=3,
                       help="runs of each loop, round robin; the median is reported")
    bench.add_argument("--dataset", choices=("mnist",), help="dataset (mnist)")
    bench.add_argument("--data-dir", help="dataset folder (default: $PLAYGROUND_DATA)")
    bench.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    bench.add_argument("--limit-train", type=_positive_int,
                       help="use only N training images (quick checks)")
    bench.add_argument("--workers", action="store_true",
                       help="also measure the canonical loop with DataLoader num_workers=2")
    bench.add_argument("--accuracy", action="store_true",
                       help="also time 98%% and 99%% MNIST test accuracy")
    bench.add_argument("--cifar", action="store_true",
                       help="also time 70%% and 80%% on CIFAR-10 (slow on a CPU)")
    bench.add_argument("--compile", action="store_true",
                       help="torch.compile the Trainer's training step in (c) and (d)")
    bench.add_argument("--seeing-panels", action="store_true",
                       help="also time (d) with each Inspect panel on what the network sees "
                            "open (favourite images, attributions, adversarial noise, "
                            "feature space)")
    bench.add_argument("--markdown", help="write the results as a markdown table here")
    serve = commands.add_parser("serve", help="one web replica (streamlit run app.py), "
                                              "after checking its training backend")
    serve.add_argument("--port", type=_positive_int, default=8501)
    serve.add_argument("--address", default="127.0.0.1",
                       help="interface to listen on (behind a proxy: loopback or private)")
    serve.add_argument("streamlit_args", nargs=argparse.REMAINDER,
                       help="more `streamlit run` options, after --")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "summary":
            return run_summary(args)
        if args.command == "bench":
            return run_bench(args, argv)
        if args.command == "export":
            return run_export(args)
        if args.command == "serve":
            return run_serve(args)
        return run_train(args)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    except S.SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug of ours: still one line, never a traceback
        print(f"error: unexpected {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_RUNTIME


def run_serve(args: argparse.Namespace) -> int:
    from playground import serve

    extra = [a for a in args.streamlit_args if a != "--"]
    try:
        return serve.serve(args.port, args.address, extra)
    except serve.ServeError as error:
        raise CliError(str(error), EXIT_RUNTIME) from None


def _load(path: str):
    from playground.model import build as M

    model_spec = S.load_spec(path)
    return model_spec, M.analyze(model_spec)


def run_summary(args: argparse.Namespace) -> int:
    model_spec, analysis = _load(args.spec)
    if args.json:
        print(json.dumps(analysis.to_json_dict()))
        return 0
    print(format_summary(model_spec, analysis))
    return 0


def format_summary(model_spec: S.ModelSpec, analysis) -> str:
    rows = [("#", "layer", "output", "params", "RF", "jump", "MACs")]
    for info in analysis.layers:
        rows.append((str(info.index), info.type + (" (auto)" if info.auto else ""),
                     "x".join(map(str, info.output_shape)), f"{info.params:,}",
                     "-" if info.receptive_field is None else str(info.receptive_field),
                     "-" if info.jump is None else str(info.jump), f"{info.macs:,}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"{model_spec.name}  input {'x'.join(map(str, model_spec.input))}, "
             f"{model_spec.num_classes} classes"]
    for row in rows:
        lines.append("  ".join(cell.rjust(w) if i in (0, 3, 4, 5, 6) else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))))
    lines.append(f"total parameters {analysis.total_params:,}; multiply-adds per image "
                 f"{analysis.total_macs:,}")
    return "\n".join(lines)


def run_train(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    model_spec, _ = _load(args.spec)
    try:
        config = S.resolve_training(
            model_spec.training, dataset=args.dataset, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
            momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
            augment=args.augment, seed=args.seed, label_smoothing=args.label_smoothing,
            nesterov=args.nesterov, warmup_fraction=args.warmup_fraction,
            ema_decay=args.ema_decay, test_flip=args.test_flip,
            cpu_bf16=args.cpu_bf16, channels_last=args.channels_last)
    except S.SpecError as error:  # a flag value: name the flag, not the spec field
        flag = "--" + (error.field_name or str(error).split(":")[0].split(".")[-1])
        raise CliError(f"{flag.replace('_', '-')}: {error.reason}", EXIT_BAD_INPUT) from None
    return _train(args, model_spec, config, started)


def _train(args: argparse.Namespace, model_spec: S.ModelSpec, config: S.TrainingConfig,
           started: float) -> int:
    from playground.data import datasets as D
    from playground.model import build as M
    from playground.train import trainer as T
    from playground.train.device import pick_device
    from playground.train.records import EpochRecord
    from playground.train.target import CHECK_IMAGES
    from playground.train.threads import configure_threads

    configure_threads()
    say = (lambda text: None) if args.json else (lambda text: print(text, file=sys.stderr))
    try:
        device = pick_device(args.device)
    except RuntimeError as error:
        raise CliError(str(error), EXIT_RUNTIME) from None
    if config.dataset.startswith("upload:"):
        raise CliError(f"--dataset: {config.dataset} names a dataset uploaded in the web "
                       "page; on the command line use folder:PATH (a folder with train/ and "
                       "test/ class folders)", EXIT_BAD_INPUT)
    if config.dataset in D.KNOWN_SHAPES:  # fail before a slow load
        T.check_fits(model_spec, *D.KNOWN_SHAPES[config.dataset], config.dataset)
    M.check_batch(M.analyze(model_spec), config.batch_size)  # the Trainer's caps, sooner
    say(f"loading {config.dataset}...")
    try:
        dataset = D.load_dataset(config.dataset, args.data_dir, limit_train=args.limit_train,
                                 progress=lambda text, _fraction: say(text))
    except D.DataError as error:
        raise CliError(str(error), EXIT_RUNTIME) from None
    if dataset.is_subset:
        say(f"note: {dataset.source}")

    def on_epoch_end(record: EpochRecord) -> None:
        if args.json:
            print(json.dumps({"epoch": record.epoch, "train_loss": record.train_loss,
                              "train_acc": record.train_acc, "test_acc": record.test_acc,
                              "samples_per_s": record.samples_per_s,
                              "train_seconds": record.train_seconds,
                              "seconds": time.perf_counter() - started}), flush=True)
        else:
            say(f"epoch {record.epoch}: loss {record.train_loss:.4f}, train acc "
                f"{record.train_acc:.2%}, test acc {record.test_acc:.2%}, "
                f"{record.samples_per_s:,.0f} images/s")

    options = T.TrainerOptions(
        device=str(device), target_acc=args.target_acc, max_seconds=args.max_seconds,
        evals_per_epoch=10 if args.target_acc is not None else 1,
        target_check_images=CHECK_IMAGES, on_epoch_end=on_epoch_end, compile=args.compile)
    trainer = T.Trainer(model_spec, dataset, config, options)
    say(f"training {model_spec.name} on {dataset.name} ({trainer.train_size:,} images) "
        f"on {device}, {config.epochs} epoch(s)")
    trainer.run()
    if trainer.state == T.FAILED:
        raise CliError(trainer.message, EXIT_RUNTIME)
    final_acc = trainer.eval_records[-1].test_acc if trainer.eval_records else float("nan")
    if args.save:
        _save_weights(trainer, Path(args.save))
        say(f"saved weights to {args.save}")
    if trainer.state == T.PAUSED:  # the loop only pauses itself on a NaN/inf loss
        raise CliError(trainer.message, EXIT_RUNTIME)
    final = {"final": True, "test_acc": final_acc, "train_seconds": trainer.train_seconds,
             "seconds": time.perf_counter() - started, "time_to_target": trainer.time_to_target,
             "device": str(device), "dataset": dataset.name, "train_size": trainer.train_size,
             "test_size": trainer.test_size}
    if args.json:
        print(json.dumps(final), flush=True)
    else:
        target = ("" if trainer.time_to_target is None else
                  f", target reached after {trainer.time_to_target:.1f} s of training")
        say(f"done: test accuracy {final_acc:.2%}, {trainer.train_seconds:.1f} s training, "
            f"{final['seconds']:.1f} s total{target}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from playground import checkpoint
    from playground import exports

    model_spec, _ = _load(args.spec)
    try:
        data = Path(args.weights).read_bytes()
    except OSError as error:
        raise CliError(f"--weights: cannot read {args.weights}: {error.strerror}",
                       EXIT_BAD_INPUT) from None
    try:
        state = checkpoint.read_state_dict(data)
        exported = exports.export(model_spec, state, args.format)
    except checkpoint.CheckpointError as error:
        raise CliError(f"--weights: {args.weights}: {error}", EXIT_BAD_INPUT) from None
    except exports.ExportError as error:
        raise CliError(str(error), EXIT_RUNTIME) from None
    try:
        Path(args.output).write_bytes(exported)
    except OSError as error:
        raise CliError(f"--output: cannot write {args.output}: {error.strerror}",
                       EXIT_RUNTIME) from None
    print(f"wrote {args.output} ({args.format}, {len(exported):,} bytes)", file=sys.stderr)
    return 0


def run_bench(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    import shlex

    from playground.bench import benchmark as B
    from playground.data import datasets as D

    spec_path = args.spec or str(B.DEFAULT_SPEC)
    S.load_spec(spec_path)  # a bad spec is bad input (exit 2) before anything slow
    words = list(sys.argv[1:] if argv is None else argv)
    command = "python -m playground " + " ".join(shlex.quote(word) for word in words)
    if os.environ.get("PLAYGROUND_DATA") and args.data_dir is None:
        command = f"PLAYGROUND_DATA={shlex.quote(os.environ['PLAYGROUND_DATA'])} {command}"
    try:
        report = B.run_bench(
            spec_path, steps=args.steps, warmup=args.warmup, dataset_name=args.dataset,
            data_dir=args.data_dir, device=args.device, accuracy=args.accuracy,
            cifar=args.cifar, limit_train=args.limit_train, repeats=args.repeats,
            workers=(0, 2) if args.workers else (0,), compile=args.compile,
            seeing_panels=args.seeing_panels,
            say=lambda text: print(text, file=sys.stderr, flush=True))
    except RuntimeError as error:  # CUDA absent, a failed run
        raise CliError(D._one_line(error), EXIT_RUNTIME) from None
    except D.DataError as error:
        raise CliError(str(error), EXIT_RUNTIME) from None
    except ValueError as error:
        raise CliError(str(error), EXIT_BAD_INPUT) from None
    print(B.format_text(report))
    if args.markdown:
        try:
            write_section(args.markdown, TRAINING_SECTION, B.to_markdown(report, command))
        except OSError as error:
            raise CliError(f"--markdown: cannot write {args.markdown}: {error.strerror}",
                           EXIT_RUNTIME) from None
        print(f"wrote {args.markdown}", file=sys.stderr)
    return 0


def _save_weights(trainer, path: Path) -> None:
    import torch

    _, state = trainer.latest_weights()
    try:
        torch.save(state, path)
    except OSError as error:
        raise CliError(f"--save: cannot write {path}: {error.strerror}", EXIT_RUNTIME) from None
