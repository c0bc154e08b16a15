"""`python -m playground bench`: how fast the playground trains, next to the usual ways.

One process, one spec, one dataset, measured side by side against the
speed targets in BENCHMARKS.md:
  (a) the canonical PyTorch MNIST example's loop: torchvision's MNIST with per-image
      ToTensor + Normalize through a DataLoader (num_workers=0, see `measure_canonical`);
  (b) a tight hand-written loop over one pre-normalised tensor with index-sliced batches
      (the ceiling for eager PyTorch on this machine);
  (c) the playground Trainer, no live inspection;
  (d) the Trainer while another thread inspects at the UI's cadence (every 0.5 s: copy
      the weights, kernels, activations of all layers for one probe, kernel FFTs of all
      conv layers).
Plus optional time-to-accuracy runs, the server-side time to build the Inspect panels, and
the worst Stop latency on the heaviest networks the caps allow (`bench.stop_latency`).
With `compile`, (c) and (d) torch.compile the training step; it compiles in their warm-up
(and once more inside a measurement that reaches an epoch's short last batch). On CUDA,
(c) and (d) also report nvidia-smi's mean GPU utilization while they ran.

Only torch and torchvision are needed for the training part: plotly is imported only
inside `inspect_panel_times`, and streamlit never (a GPU machine may have neither).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import importlib.util
import math
import os
import platform
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

from playground.bench import live_panels as LP
from playground.bench import stop_latency as SL
from playground.data import datasets as D
from playground.analysis import network as I
from playground.model import build as M
from playground import spec as S
from playground.train import trainer as T
from playground.train.device import has_native_bf16, pick_device
from playground.train.optim import make_optimizer, make_scheduler
from playground.train.target import CHECK_IMAGES
from playground.train.records import EvalRecord
from playground.train.threads import BACKGROUND_NICE, cpu_cores

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = ROOT / "assets" / "presets" / "mnist_fast.json"
LENET_SPEC = ROOT / "assets" / "presets" / "lenet5.json"
CIFAR_SPEC = ROOT / "assets" / "presets" / "tinyvgg_cifar10.json"
MNIST_99_SPEC = ROOT / "assets" / "presets" / "mnist_99.json"
CIFAR_FAST_SPEC = ROOT / "assets" / "presets" / "cifar10_fast.json"
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)   # the canonical example's constants
INSPECT_EVERY = 0.5                              # seconds, the UI's live refresh cadence
GPU_SAMPLE_EVERY = 0.2                           # seconds between nvidia-smi readings


@dataclass
class Throughput:
    """One loop measured over `steps` steps after `warmup` steps."""

    key: str           # "a", "b", "c", "d"
    name: str
    steps: int
    images: int
    seconds: float
    note: str = ""
    extra: dict = field(default_factory=dict)
    load: float = field(default_factory=lambda: os.getloadavg()[0])  # 1-min, at the end

    @property
    def images_per_s(self) -> float:
        return self.images / max(self.seconds, 1e-9)


@dataclass
class AccuracyRun:
    name: str
    spec_name: str
    dataset: str
    target: float
    reached: bool
    train_seconds: float       # time_to_target when reached, else all training time
    wall_seconds: float        # trainer construction + training + evaluations
    final_acc: float
    note: str = ""
    budget: float | None = None  # the target train_seconds (BENCHMARKS.md)
    load: float = field(default_factory=lambda: os.getloadavg()[0])
    eval_records: list[EvalRecord] = field(default_factory=list, repr=False)

    @property
    def met(self) -> bool:
        return self.reached and (self.budget is None or self.train_seconds <= self.budget)


@dataclass
class BenchReport:
    spec_name: str
    dataset: str
    device: str
    batch_size: int
    threads: int
    throughputs: list[Throughput] = field(default_factory=list)
    accuracy: list[AccuracyRun] = field(default_factory=list)
    panels: dict[str, float] | None = None   # panel -> median ms; None when skipped
    panels_note: str = ""
    notes: list[str] = field(default_factory=list)
    # ratio -> median over repeats of the ratio within one round (the runs measured back
    # to back, so a busy spell on a shared machine hits both sides)
    paired: dict[str, float] = field(default_factory=dict)
    seconds: float | None = None   # the whole benchmark's wall time
    stops: list[SL.StopLatency] = field(default_factory=list)  # empty when not measured

    def figure(self, key: str) -> float | None:
        for result in self.throughputs:
            if result.key == key:
                return result.images_per_s
        return None

    def ratios(self) -> dict[str, float | None]:
        """c/a, c/b and d/c from the measured images/s (None when a part was skipped), and
        each measured panel row over c."""
        def ratio(top: str, bottom: str) -> float | None:
            a, b = self.figure(top), self.figure(bottom)
            return None if a is None or b is None or b <= 0 else a / b
        return {name: ratio(top, bottom) for name, (top, bottom) in PAIRS.items()
                if not top.startswith("d+") or self.figure(top) is not None}


# --- setup ----------------------------------------------------------------------------------

def bench_config(model_spec: S.ModelSpec, dataset: str | None, steps_needed: int,
                 train_size: int) -> S.TrainingConfig:
    """The spec's training settings, with enough epochs that the schedule (one-cycle counts
    its total steps) covers every step a measurement runs."""
    config = S.resolve_training(model_spec.training, dataset=dataset)
    steps_per_epoch = math.ceil(train_size / config.batch_size)
    config.epochs = max(config.epochs, math.ceil(steps_needed / steps_per_epoch))
    return config


def _model_and_optimizer(model_spec: S.ModelSpec, config: S.TrainingConfig,
                         device: torch.device, total_steps: int):
    """The same initial weights, optimizer and schedule as the Trainer builds."""
    network = M.build_model(model_spec, "cpu", torch.Generator().manual_seed(config.seed))
    network = network.to(device).train()
    optimizer = make_optimizer(network, config)
    scheduler = make_scheduler(optimizer, config, total_steps)
    return network, optimizer, scheduler


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _train_batch(network, optimizer, scheduler, images, labels) -> torch.Tensor:
    loss = F.cross_entropy(network(images), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss


# --- (a) the canonical example's loop ---------------------------------------------------------

def measure_canonical(model_spec: S.ModelSpec, config: S.TrainingConfig, data_dir: Path,
                      device: torch.device, steps: int, warmup: int,
                      limit_train: int | None = None, num_workers: int = 0) -> Throughput:
    """The loop of pytorch/examples mnist/main.py: torchvision MNIST, per-image ToTensor and
    Normalize, a shuffling DataLoader, one optimizer step per batch.

    num_workers=0 by default: on a 2-core machine worker processes compete with torch's
    intra-op threads for the same cores (and start-up costs a second or two), so 0 is the
    fair CPU baseline; pass num_workers to measure the other choice.
    """
    import torchvision
    from torchvision import transforms

    transform = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize(MNIST_MEAN, MNIST_STD)])
    try:
        train_set = torchvision.datasets.MNIST(str(data_dir), train=True, download=False,
                                               transform=transform)
    except RuntimeError as error:
        raise D.DataError(f"canonical loop: MNIST not found under {data_dir}: "
                          f"{D._one_line(error)}") from None
    if limit_train is not None and limit_train < len(train_set):
        train_set = torch.utils.data.Subset(train_set, range(limit_train))
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=config.batch_size, shuffle=True, num_workers=num_workers,
        pin_memory=device.type == "cuda", drop_last=False,
        generator=torch.Generator().manual_seed(config.seed + 1))
    network, optimizer, scheduler = _model_and_optimizer(model_spec, config, device,
                                                         warmup + steps + 1)

    def batches():
        while True:  # epochs, as many as the steps need
            for images, labels in loader:
                yield images, labels

    source = batches()
    images_done, started = 0, None
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            started, images_done = time.perf_counter(), 0
        images, labels = next(source)
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        _train_batch(network, optimizer, scheduler, images, labels)
        images_done += len(labels)
    _sync(device)
    seconds = time.perf_counter() - started
    del source
    name = f"(a) canonical DataLoader loop, num_workers={num_workers}"
    return Throughput("a" if num_workers == 0 else f"a{num_workers}", name, steps,
                      images_done, seconds,
                      "torchvision MNIST + ToTensor/Normalize per image")


# --- (b) the tight tensor loop -----------------------------------------------------------------

def measure_tight(model_spec: S.ModelSpec, config: S.TrainingConfig, dataset: D.Dataset,
                  device: torch.device, steps: int, warmup: int) -> Throughput:
    """One pre-normalised tensor on the device, a permutation per epoch, sliced batches,
    no host sync inside the loop."""
    train_x, train_y = dataset.train_x.to(device), dataset.train_y.to(device)
    size, batch = len(train_y), config.batch_size
    network, optimizer, scheduler = _model_and_optimizer(model_spec, config, device,
                                                         warmup + steps + 1)
    generator = torch.Generator().manual_seed(config.seed + 1)
    order, position = None, size
    images_done, started = 0, None
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            started, images_done = time.perf_counter(), 0
        if position >= size:
            order, position = torch.randperm(size, generator=generator).to(device), 0
        indices = order[position:position + batch]
        position += batch
        _train_batch(network, optimizer, scheduler, train_x[indices], train_y[indices])
        images_done += len(indices)
    _sync(device)
    seconds = time.perf_counter() - started
    return Throughput("b", "(b) tight tensor loop", steps, images_done, seconds,
                      "pre-normalised tensor, index-sliced batches")


def in_thread(threads: int, measure, *args, **kwargs):
    """Run a measurement in a fresh thread using `threads` intra-op threads.

    Each thread that runs torch ops on several threads starts an OpenMP team of its own,
    and it lives as long as the thread. With two teams alive the process has more OpenMP
    threads than CPUs, and libgomp then stops spinning between parallel regions: a loop
    measured next to a stale team ran at about 0.65x (BENCHMARKS.md). So every part runs
    in a thread of its own that ends with it, while the calling thread, like the app's
    page threads, keeps to one intra-op thread and never starts a team.
    """
    result: list = []
    errors: list = []

    def target():
        try:
            torch.set_num_threads(threads)
            result.append(measure(*args, **kwargs))
        except BaseException as error:  # re-raised in the caller
            errors.append(error)

    thread = threading.Thread(target=target, name="bench-part")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


# --- (c) and (d) the Trainer -------------------------------------------------------------------

@dataclass
class InspectionStats:
    refreshes: int = 0
    seconds: list[float] = field(default_factory=list)


def inspect_once(trainer: T.Trainer, probe: torch.Tensor) -> None:
    """What one live refresh of the Inspect page computes (without drawing it)."""
    network = trainer.inspection_model()               # weights copied between two steps
    convs = I.conv_layers(network)
    for index in convs:
        I.kernels(network, index)
    I.activations(network, probe)                       # every layer, one probe
    I.predict(network, probe)
    for index in convs:
        I.kernel_spectra(network, index)                # FFTs of every kernel


def _inspect_loop(trainer: T.Trainer, probe: torch.Tensor, stop: threading.Event,
                  stats: InspectionStats, every: float,
                  panel: LP.PanelWork | None = None) -> None:
    torch.set_num_threads(1)  # as the app's page threads (playground/ui/session.py)
    next_at = time.perf_counter()
    while not stop.is_set():
        started = time.perf_counter()
        inspect_once(trainer, probe)
        if panel is not None:  # the open panel's own work, at its own cadence
            panel.maybe_run(trainer.inspection_model)
        stats.seconds.append(time.perf_counter() - started)
        stats.refreshes += 1
        next_at += every
        stop.wait(max(0.0, next_at - time.perf_counter()))


def _wait_idle(trainer: T.Trainer) -> None:
    while trainer.busy:
        if trainer.state == T.FAILED:
            break
        time.sleep(0.01)  # coarse: a tight poll takes the GIL from the trainer
    if trainer.state == T.FAILED:
        raise RuntimeError(trainer.message)


def measure_trainer(model_spec: S.ModelSpec, config: S.TrainingConfig, dataset: D.Dataset,
                    device: torch.device, steps: int, warmup: int,
                    live_inspection: bool = False,
                    inspect_every: float = INSPECT_EVERY, compile: bool = False,
                    panel: str | None = None) -> Throughput:
    """The Trainer's own thread, driven by step(N) as the UI's Step button drives it; wall
    time from the command to the last step (its records and snapshots included). With
    `compile`, the compiling happens in the warm-up steps, outside the measured time."""
    # at the app's priority: a training thread yields the CPU to page work
    options = T.TrainerOptions(device=str(device), compile=compile,
                               thread_nice=BACKGROUND_NICE)
    trainer = T.Trainer(model_spec, dataset, config, options)
    stats, stop, inspector = InspectionStats(), threading.Event(), None
    work = None if panel is None else LP.panel_work(panel, model_spec, dataset)
    try:
        trainer.step(warmup)
        _wait_idle(trainer)
        if live_inspection:
            probe = dataset.test_x[0]
            inspector = threading.Thread(target=_inspect_loop, name="bench-inspector",
                                         args=(trainer, probe, stop, stats, inspect_every,
                                               work),
                                         daemon=True)
            inspector.start()
        first_step = trainer.step_count
        with gpu_utilization(device) as utilization:
            started = time.perf_counter()
            trainer.step(steps)
            _wait_idle(trainer)
            _sync(device)
            seconds = time.perf_counter() - started
        done = trainer.step_count - first_step
    finally:
        stop.set()
        if inspector is not None:
            inspector.join()
        trainer.stop()
    images = done * config.batch_size  # approximate only at an epoch's short last batch
    extra_note = ("; torch.compile" if compile else "") + utilization_note(device, utilization)
    extra = {} if utilization is None else {"gpu_util": utilization}
    if live_inspection and work is not None:
        mean_ms = 1000 * statistics.fmean(work.runs) if work.runs else float("nan")
        return Throughput(f"d+{panel}", f"(d) + {panel} panel", done, images, seconds,
                          f"{len(work.runs)} {panel} computations, {mean_ms:.0f} ms each, "
                          f"beside {stats.refreshes} inspections every {inspect_every:g} s"
                          + extra_note, {"panel_runs": len(work.runs), "panel_ms": mean_ms,
                                         **extra})
    if live_inspection:
        mean_ms = 1000 * statistics.fmean(stats.seconds) if stats.seconds else float("nan")
        return Throughput("d", "(d) Trainer + live inspection", done, images, seconds,
                          f"{stats.refreshes} inspections every {inspect_every:g} s, "
                          f"{mean_ms:.1f} ms each" + extra_note,
                          {"refreshes": stats.refreshes, "inspect_ms": mean_ms, **extra})
    return Throughput("c", "(c) Trainer, no inspection", done, images, seconds,
                      "playground Trainer thread (step records, snapshots)" + extra_note,
                      extra)


# --- GPU utilisation ------------------------------------------------------------------------

@contextlib.contextmanager
def gpu_utilization(device: torch.device,
                    every: float = GPU_SAMPLE_EVERY) -> Iterator[list[float] | None]:
    """While the block runs, a background thread appends nvidia-smi's utilization.gpu
    (percent) of `device` to the list it yields every `every` s. None, and no thread, when
    the device is not CUDA or nvidia-smi is not installed."""
    binary = shutil.which("nvidia-smi") if device.type == "cuda" else None
    if binary is None:
        yield None
        return
    uuid = _gpu_uuid(device)
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            reading = _read_utilization(binary, uuid)
            if reading is not None:
                samples.append(reading)
            stop.wait(every)

    thread = threading.Thread(target=sample, name="bench-gpu-utilization", daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def _gpu_uuid(device: torch.device) -> str | None:
    """nvidia-smi's name for the device ("GPU-..."): its index can differ from CUDA's."""
    try:
        return f"GPU-{torch.cuda.get_device_properties(device).uuid}"
    except (AttributeError, AssertionError, RuntimeError):
        return None


def _read_utilization(binary: str, uuid: str | None) -> float | None:
    try:
        result = subprocess.run(
            [binary, "--query-gpu=uuid,utilization.gpu", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_utilization(result.stdout, uuid) if result.returncode == 0 else None


def parse_utilization(text: str, uuid: str | None) -> float | None:
    """The utilization of the GPU named `uuid` in nvidia-smi's "uuid, percent" lines; the
    only line's when there is one GPU (or the uuid is unknown); else None."""
    rows = [line.split(",") for line in text.strip().splitlines() if line.count(",") == 1]
    readings = {name.strip(): value.strip() for name, value in rows}
    if uuid in readings:
        value = readings[uuid]
    elif len(readings) == 1:
        value = next(iter(readings.values()))
    else:
        return None
    try:
        return float(value)
    except ValueError:  # "[N/A]" on some boards
        return None


def utilization_note(device: torch.device, samples: list[float] | None) -> str:
    """"; GPU utilization 87% (mean of 25 readings)" on CUDA; "" on CPU and MPS."""
    if device.type != "cuda":
        return ""
    if not samples:
        why = "nvidia-smi not found" if samples is None else "no reading"
        return f"; GPU utilization not available ({why})"
    mean = statistics.fmean(samples)
    return f"; GPU utilization {mean:.0f}% (mean of {len(samples)} readings)"


def median_of(results: list[Throughput]) -> Throughput:
    """The run with the median images/s, noting the range over all runs."""
    ordered = sorted(results, key=lambda result: result.images_per_s)
    middle = ordered[len(ordered) // 2]
    if len(results) == 1:
        return middle
    rates = [result.images_per_s for result in results]
    loads = ", ".join(f"{result.load:.1f}" for result in results)
    return dataclasses.replace(
        middle, note=f"{middle.note}; median of {len(results)} runs "
                     f"({min(rates):,.0f}-{max(rates):,.0f}; load average {loads})",
        extra={**middle.extra, "runs": rates})


PAIRS = {"c/a": ("c", "a"), "c/b": ("c", "b"), "d/c": ("d", "c"),
         **{f"d+{panel}/c": (f"d+{panel}", "c") for panel in LP.PANELS}}


def paired_ratios(rates: dict[str, list[float]]) -> dict[str, float]:
    """Median over rounds of top/bottom measured in the same round."""
    paired = {}
    for name, (top, bottom) in PAIRS.items():
        if top in rates and bottom in rates:
            paired[name] = statistics.median(t / b for t, b in zip(rates[top], rates[bottom]))
    return paired


# --- time to accuracy --------------------------------------------------------------------------

def time_to_accuracy(model_spec: S.ModelSpec, dataset: D.Dataset, target: float,
                     device: torch.device, config: S.TrainingConfig | None = None,
                     max_seconds: float | None = None,
                     budget: float | None = None,
                     milestones: tuple[float, ...] = ()) -> AccuracyRun:
    """The Trainer with target_acc and ten checks per epoch, as `train --target-acc`;
    `milestones` (lower accuracies) are confirmed on the whole test set as they are passed."""
    config = config or S.resolve_training(model_spec.training, dataset=dataset.name)
    options = T.TrainerOptions(device=str(device), target_acc=target, evals_per_epoch=10,
                               target_check_images=CHECK_IMAGES, max_seconds=max_seconds,
                               milestones=milestones)
    started = time.perf_counter()
    trainer = T.Trainer(model_spec, dataset, config, options)
    trainer.run()
    wall = time.perf_counter() - started
    reached = trainer.time_to_target is not None
    final = trainer.eval_records[-1].test_acc if trainer.eval_records else float("nan")
    note = (f"{config.optimizer}, lr {config.lr:g}, batch {config.batch_size}, "
            f"{config.schedule}, up to {config.epochs} epoch(s)")
    if not reached:
        note += f"; not reached ({trainer.message})"
    return AccuracyRun(f"{target:.0%} {dataset.name}", model_spec.name, dataset.name, target,
                       reached, trainer.time_to_target if reached else trainer.train_seconds,
                       wall, final, note, budget, eval_records=list(trainer.eval_records))


def times_to_accuracies(model_spec: S.ModelSpec, dataset: D.Dataset,
                        budgets: dict[float, float | None], device: torch.device,
                        config: S.TrainingConfig, max_seconds: float | None = None
                        ) -> list[AccuracyRun]:
    """One run to the highest of `budgets`' targets, and an AccuracyRun per target: a lower
    target's time is the training time at the first evaluation that reached it, which is
    what a run stopped at that target would have reported (the schedule does not know)."""
    top = time_to_accuracy(model_spec, dataset, max(budgets), device, config, max_seconds,
                           budgets[max(budgets)],
                           milestones=tuple(sorted(t for t in budgets if t != max(budgets))))
    runs = []
    for target, budget in sorted(budgets.items()):
        if target == max(budgets):
            runs.append(top)
            continue
        first = next((record for record in top.eval_records if record.test_acc >= target),
                     None)
        note = top.note.split("; not reached")[0] + ("" if first else "; not reached")
        runs.append(dataclasses.replace(
            top, name=f"{target:.0%} {dataset.name}", target=target, reached=first is not None,
            train_seconds=first.train_seconds if first else top.train_seconds,
            final_acc=first.test_acc if first else top.final_acc, note=note, budget=budget))
    return runs


def median_run(runs: list[AccuracyRun]) -> AccuracyRun:
    """The run with the median time to target (an unreached one counts as slowest); its
    note lists every run's time."""
    ranked = sorted(runs, key=lambda run: (not run.reached, run.train_seconds))
    middle = ranked[(len(ranked) - 1) // 2]
    times = ", ".join(f"{run.train_seconds:.1f}" + ("" if run.reached else " (not reached)")
                      for run in runs)
    return dataclasses.replace(middle, note=f"{middle.note}; median of {len(runs)} runs: "
                                            f"{times} s")


def repeated_times_to_accuracies(repeats: int, *args, **kwargs) -> list[AccuracyRun]:
    """times_to_accuracies `repeats` times; per target, the median run."""
    rounds = [times_to_accuracies(*args, **kwargs) for _ in range(repeats)]
    return [median_run(list(per_target)) for per_target in zip(*rounds)]


# --- Inspect panels ----------------------------------------------------------------------------

def inspect_panel_times(model_spec: S.ModelSpec, network: torch.nn.Module, dataset: D.Dataset,
                        repeats: int = 5) -> tuple[dict[str, float] | None, str]:
    """Median milliseconds to compute and build each Inspect panel for the first conv layer
    (the page's default selection), and to encode it as JSON (what is sent to the browser).
    (None, why) when plotly is not installed."""
    if importlib.util.find_spec("plotly") is None:
        return None, "skipped: plotly is not installed"
    from playground.analysis import spectra as SP
    from playground.figures import inspection as IF

    network = I.snapshot_model(network)
    probe = dataset.test_x[0]
    convs = I.conv_layers(network)
    if not convs:
        return None, "skipped: the spec has no conv layer"
    layer = convs[0]

    def kernels_panel():
        return IF.kernel_grid(I.kernels(network, layer), "layer", 0, f"Layer {layer} kernels")

    def features_panel():
        acts = I.activations(network, probe)
        return IF.feature_grid(acts[layer].output, f"Layer {layer} feature maps")

    def spectrum_panel():
        view = SP.frequency_view(I.kernels(network, layer)[0, 0], False)
        return IF.frequency_response(view, title=f"Layer {layer} kernel 0")

    def probe_panel():
        probs = I.predict(network, probe)
        return IF.probabilities(probs, dataset.classes, int(dataset.test_y[0]))

    panels = {"kernels": kernels_panel, "feature maps": features_panel,
              "frequency response": spectrum_panel, "probe + probabilities": probe_panel}
    times: dict[str, float] = {}
    total_build, total_json = [], []
    for _ in range(repeats):
        build_sum = json_sum = 0.0
        for name, build in panels.items():
            started = time.perf_counter()
            figure = build()
            built = time.perf_counter()
            figure.to_json()
            encoded = time.perf_counter()
            build_sum += built - started
            json_sum += encoded - built
            times.setdefault(name, []).append(1000 * (built - started))
            times.setdefault(name + " (JSON)", []).append(1000 * (encoded - built))
        total_build.append(1000 * build_sum)
        total_json.append(1000 * json_sum)
    result = {name: statistics.median(values) for name, values in times.items()}
    result["all panels, build"] = statistics.median(total_build)
    result["all panels, build + JSON"] = statistics.median(
        [b + j for b, j in zip(total_build, total_json)])
    return result, f"layer {layer} (first conv), median of {repeats}"


# --- machine and report --------------------------------------------------------------------------

def machine_info() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
             else os.cpu_count())
    try:
        import torchvision
        vision = torchvision.__version__
    except ImportError:
        vision = "not installed"
    info = {"CPU": cpu, "cores": str(cores), "torch threads": str(torch.get_num_threads()),
            "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": vision,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    if torch.cuda.is_available():
        info["GPU"] = torch.cuda.get_device_name(0)
    return info


def _fmt(value: float | None, spec: str = ",.0f", suffix: str = "") -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:{spec}}{suffix}"


def to_markdown(report: BenchReport, command: str, machine: dict[str, str] | None = None) -> str:
    machine = machine or machine_info()
    lines = ["## Training benchmark", "",
             "Measured with `python -m playground bench` (playground/bench/benchmark.py), all parts in "
             "one process on the same spec and data. Figures are printed, not asserted; the "
             "machine may have been shared with other processes while it ran, so treat "
             "single runs as indicative.", "",
             "### Machine", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in machine.items()]
    lines += [f"| command | `{command}` |", "",
              f"### Training throughput: {report.spec_name} on {report.dataset}, "
              f"batch {report.batch_size}, {report.device}", "",
              "| loop | steps | images/s | notes |", "|---|---:|---:|---|"]
    for result in report.throughputs:
        lines.append(f"| {result.name} | {result.steps} | {_fmt(result.images_per_s)} | "
                     f"{result.note} |")
    lines += ["", "| ratio | of medians | median of same-round ratios | target |",
              "|---|---:|---:|---|"]
    for name, value in report.ratios().items():
        paired = report.paired.get(name)
        lines.append(f"| {name} | {_fmt(value, '.2f', 'x')} | {_fmt(paired, '.2f', 'x')} | "
                     f"{_target_mark(name, paired if paired is not None else value)} |")
    lines += ["", "### Time to accuracy (Trainer, `target_acc`, 10 evaluations per epoch)", ""]
    if report.accuracy:
        lines += accuracy_table(report.accuracy)
    else:
        lines.append("Not run (pass `--accuracy`; CIFAR-10 also needs `--cifar`).")
    lines += ["", "### Inspect panels, server side (compute + plotly figure, then JSON)", ""]
    if report.panels is None:
        lines.append(report.panels_note or "Not measured.")
    else:
        lines += [f"{report.panels_note}.", "", "| panel | ms |", "|---|---:|"]
        lines += [f"| {name} | {ms:.1f} |" for name, ms in report.panels.items()]
    lines += ["", "### Stop latency on the heaviest networks the caps allow (CPU)", ""]
    if report.stops:
        lines += ["Time from Stop to the end of the run's thread, pressed at a random moment "
                  "of a step; each network at the largest batch its caps allow.", "",
                  "| network | batch | step s | worst stop s | presses |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {stop.network} | {stop.batch_size} | {stop.step_seconds:.2f} | "
                  f"{stop.worst_seconds:.2f} | {stop.trials} |" for stop in report.stops]
    else:
        lines.append("Not measured.")
    if report.notes:
        lines += ["", "### Notes", ""] + [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def accuracy_table(runs: list[AccuracyRun]) -> list[str]:
    """Markdown rows: each run's target, time to it, final accuracy and its budget."""
    lines = ["| target | spec | reached | train_seconds | wall s | final test acc | "
             "target time | load | settings |",
             "|---|---|---|---:|---:|---:|---|---:|---|"]
    for run in runs:
        budget = ("-" if run.budget is None else
                  f"{run.budget:g} s: {'met' if run.met else 'MISSED'}")
        lines.append(f"| {run.name} | {run.spec_name} | {'yes' if run.reached else 'no'} "
                     f"| {run.train_seconds:.1f} | {run.wall_seconds:.1f} | "
                     f"{run.final_acc:.2%} | {budget} | {run.load:.1f} | {run.note} |")
    return lines


RATIO_TARGETS = {"c/a": 3.0, "c/b": 0.95, "d/c": 0.90,   # lower bounds (BENCHMARKS.md)
                 **{f"d+{panel}/c": 0.90 for panel in LP.PANELS}}


def _target_mark(name: str, value: float | None) -> str:
    if name not in RATIO_TARGETS:
        return ""
    bound = RATIO_TARGETS[name]
    if value is None or not math.isfinite(value):
        return f">= {bound:g}x, not measured"
    return f">= {bound:g}x: {'met' if value >= bound else 'MISSED'}"


def format_text(report: BenchReport) -> str:
    lines = [f"{report.spec_name} on {report.dataset}, batch {report.batch_size}, "
             f"{report.device}, {report.threads} torch thread(s)"]
    for result in report.throughputs:
        lines.append(f"  {result.name:<45} {result.images_per_s:>10,.0f} images/s  "
                     f"({result.steps} steps, {result.seconds:.2f} s) {result.note}")
    lines.append("  " + ", ".join(f"{name} {_fmt(value, '.2f', 'x')}"
                                  for name, value in report.ratios().items()))
    if report.paired:
        lines.append("  same-round: " + ", ".join(f"{name} {value:.2f}x"
                                                  for name, value in report.paired.items()))
    for run in report.accuracy:
        lines.append(f"  {run.name} ({run.spec_name}): "
                     + (f"reached after {run.train_seconds:.1f} s of training"
                        if run.reached else f"not reached, {run.final_acc:.2%} after "
                                            f"{run.train_seconds:.1f} s")
                     + f", {run.wall_seconds:.1f} s wall")
    if report.panels is None:
        lines.append(f"  Inspect panels: {report.panels_note}")
    else:
        lines.append(f"  Inspect panels ({report.panels_note}): " + ", ".join(
            f"{name} {ms:.1f} ms" for name, ms in report.panels.items()))
    for stop in report.stops:
        lines.append(f"  Stop on {stop.network} (batch {stop.batch_size}, steps of "
                     f"{stop.step_seconds:.2f} s): worst {stop.worst_seconds:.2f} s of "
                     f"{stop.trials} presses")
    lines += [f"  note: {note}" for note in report.notes]
    return "\n".join(lines)


# --- the whole benchmark -----------------------------------------------------------------------

def fast_preset_runs(spec_path: Path, dataset: D.Dataset, budgets: dict[float, float | None],
                      repeats: int, threads: int, device: torch.device,
                      max_seconds: float) -> list[AccuracyRun]:
    model_spec = S.load_spec(spec_path)
    config = S.resolve_training(model_spec.training, dataset=dataset.name)
    return in_thread(threads, repeated_times_to_accuracies, repeats, model_spec, dataset,
                     budgets, device, config, max_seconds)


def run_bench(spec_path: str | Path = DEFAULT_SPEC, **options) -> BenchReport:
    """Every part in a fresh thread of its own (see `in_thread`); this thread keeps to one
    intra-op thread while it loads the data and builds the Inspect panels, as a page does."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_bench(spec_path, **options)
    finally:
        torch.set_num_threads(previous)


def _run_bench(spec_path: str | Path = DEFAULT_SPEC, *, steps: int = 300, warmup: int = 20,
              dataset_name: str | None = None, data_dir: str | Path | None = None,
              device: str = "auto", accuracy: bool = False, cifar: bool = False,
              limit_train: int | None = None, workers: tuple[int, ...] = (0,),
              repeats: int = 3, compile: bool = False,
              panels: bool = True, seeing_panels: bool = False,
              accuracy_max_seconds: float = 180.0,
              stop_trials: int = 2, say=lambda text: None) -> BenchReport:
    bench_started = time.perf_counter()
    model_spec = S.load_spec(spec_path)
    threads = cpu_cores()
    torch_device = pick_device(device)
    root = Path(data_dir).expanduser() if data_dir is not None else D.default_data_dir()
    name = dataset_name or S.resolve_training(model_spec.training).dataset
    if name != "mnist":
        raise ValueError(f"dataset: the benchmark compares against the MNIST example; "
                         f"got {name!r}")
    say(f"loading {name} from {root}...")
    dataset = D.load_dataset(name, root, limit_train=limit_train)
    T.check_fits(model_spec, dataset.input_shape, dataset.num_classes, dataset.name)
    config = bench_config(model_spec, name, warmup + steps + 1, len(dataset.train_y))
    report = BenchReport(model_spec.name, dataset.name, str(torch_device), config.batch_size,
                         threads)
    if dataset.is_subset:
        report.notes.append(f"only the embedded MNIST subset was available: {dataset.source}")

    measurements = []
    if dataset.is_subset:
        report.notes.append("(a) skipped: torchvision MNIST files are not available")
    else:
        for count in workers:
            measurements.append((f"(a) canonical loop, num_workers={count}",
                                 lambda count=count: in_thread(
                                     threads, measure_canonical, model_spec, config, root,
                                     torch_device, steps, warmup, limit_train, count)))
    # (c) and (d) are driven from a one-thread thread, as a page drives a run; the
    # Trainer's own thread uses every core.
    measurements += [
        ("(b) tight tensor loop", lambda: in_thread(
            threads, measure_tight, model_spec, config, dataset, torch_device, steps,
            warmup)),
        ("(c) Trainer", lambda: in_thread(
            1, measure_trainer, model_spec, config, dataset, torch_device, steps, warmup,
            compile=compile)),
        ("(d) Trainer + live inspection", lambda: in_thread(
            1, measure_trainer, model_spec, config, dataset, torch_device, steps, warmup,
            live_inspection=True, compile=compile)),
    ]
    if seeing_panels:  # one row per Inspect panel on what the network sees, open live
        measurements += [(f"(d) + {panel} panel", lambda panel=panel: in_thread(
            1, measure_trainer, model_spec, config, dataset, torch_device, steps, warmup,
            live_inspection=True, compile=compile, panel=panel)) for panel in LP.PANELS]
    runs: list[list[Throughput]] = [[] for _ in measurements]
    for repeat in range(repeats):  # round robin: a busy spell on a shared machine hits all
        for (label, measure), results in zip(measurements, runs):
            say(f"{label} (run {repeat + 1} of {repeats})...")
            results.append(measure())
            say(f"  {results[-1].images_per_s:,.0f} images/s, load average "
                f"{results[-1].load:.1f}")
    report.throughputs = [median_of(results) for results in runs]
    report.paired = paired_ratios({results[0].key: [r.images_per_s for r in results]
                                   for results in runs})
    if accuracy:
        base = S.resolve_training(model_spec.training, dataset=name)
        say("time to 98%...")
        report.accuracy.append(in_thread(threads, time_to_accuracy, model_spec, dataset, 0.98,
                                         torch_device, base, accuracy_max_seconds,
                                         budget=8.0))
        lenet = S.load_spec(LENET_SPEC)
        say("time to 99% (LeNet-5 preset)...")
        report.accuracy.append(in_thread(
            threads, time_to_accuracy, lenet, dataset, 0.99, torch_device,
            S.resolve_training(lenet.training, dataset=name), accuracy_max_seconds,
            budget=60.0))
        say(f"time to 99% (MNIST 99% preset, median of {repeats})...")
        report.accuracy += fast_preset_runs(MNIST_99_SPEC, dataset, {0.99: 10.0}, repeats,
                                             threads, torch_device, accuracy_max_seconds)
    if cifar:
        cifar_spec = S.load_spec(CIFAR_SPEC)
        say("loading cifar10...")
        cifar_data = D.load_dataset("cifar10", root, limit_train=limit_train)
        cifar_config = S.resolve_training(cifar_spec.training, dataset="cifar10")
        for target in (0.70, 0.80):
            say(f"time to {target:.0%} on CIFAR-10...")
            report.accuracy.append(in_thread(threads, time_to_accuracy, cifar_spec,
                                             cifar_data, target, torch_device, cifar_config,
                                             max(accuracy_max_seconds, 600.0)))
        say(f"time to 70% and 80% on CIFAR-10 (CIFAR-10 fast preset, median of {repeats})...")
        report.accuracy += fast_preset_runs(CIFAR_FAST_SPEC, cifar_data,
                                             {0.70: 60.0, 0.80: 300.0}, repeats, threads,
                                             torch_device, max(accuracy_max_seconds, 600.0))
    elif accuracy:
        report.notes.append("CIFAR-10 70%/80% not run: they take long on a CPU "
                            "(pass --cifar)")

    if panels:
        say("Inspect panels...")
        network = M.build_model(model_spec, "cpu", torch.Generator().manual_seed(config.seed))
        report.panels, report.panels_note = inspect_panel_times(model_spec, network, dataset)
    else:
        report.panels_note = "not measured"
    if stop_trials:
        report.stops = in_thread(1, SL.measure_all, stop_trials, say)
    report.notes.append(f"images/s is measured over {steps} steps after {warmup} warm-up "
                        f"steps, the median of {repeats} round-robin runs; (c) and (d) are wall time from step(N) to the last step, "
                        "including the Trainer's records and snapshots")
    if compile:
        report.notes.append("(c) and (d) ran with torch.compile (on CUDA mode "
                            "reduce-overhead, i.e. CUDA graphs; on a CPU the default mode); "
                            "it compiled in their warm-up steps, outside the measured time")
    if torch_device.type == "cuda":
        native = "yes" if has_native_bf16(torch_device) else "no"
        report.notes.append(f"(c) and (d) train with bf16 autocast where the GPU has native "
                            f"bf16 (this one: {native}); (a) and (b) stay fp32")
        report.notes.append(f"GPU utilization: nvidia-smi's utilization.gpu, read every "
                            f"{GPU_SAMPLE_EVERY:g} s while (c) and (d) ran, averaged")
    if torch_device.type != "cuda":
        report.notes.append("GPU targets (100,000 images/s, 99% in 3 s, CIFAR-10 90% in 30 s, "
                            "utilization): not measured, no CUDA device in this run")
    report.seconds = time.perf_counter() - bench_started
    report.notes.append(f"the whole benchmark took {report.seconds:.0f} s; load average "
                        f"(1 min) at the end {os.getloadavg()[0]:.1f}")
    return report
