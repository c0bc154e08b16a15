"""Going deeper: why plain deep stacks degrade and how residual blocks help.

The networks are built from specs like every other network of the playground; parameter
counts and shapes come from `model.analyze`, gradient norms from autograd on a short,
seeded training run on real MNIST digits (the embedded subset when MNIST is not there).
"""
from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from playground import spec as S
from playground.data import datasets as D
from playground.lessons.latex import latex_int
from playground.model import build as M
from playground.train.step import evaluate, train_step

INPUT = [1, 28, 28]
STEM_LAYERS = 3        # conv (stride 2) + ReLU + max pool: 28x28 -> 7x7 keeps it fast
# A residual block holds two 3x3 convs: four layers (conv, ReLU, conv, ReLU) in the plain stack.
MAX_BLOCKS = (S.LIMITS.max_layers - STEM_LAYERS - 1) // 4


def _stem(channels: int) -> list[dict]:
    return [{"type": "conv", "out_channels": channels, "kernel_size": 3, "stride": 2,
             "padding": 1}, {"type": "relu"}, {"type": "maxpool", "kernel_size": 2}]


def _stack_spec(name: str, body: list[dict], description: str) -> S.ModelSpec:
    return S.parse_spec({"version": 1, "name": name, "description": description,
                         "input": INPUT, "num_classes": 10,
                         "layers": body + [{"type": "global_avgpool"}],
                         "training": {"dataset": "mnist", "optimizer": "sgd", "lr": 0.02,
                                      "momentum": 0.9, "batch_size": 32, "epochs": 1}})


def plain_stack_spec(blocks: int, channels: int = 8) -> S.ModelSpec:
    """A stem, then 2 x blocks conv3x3 + ReLU layers: as deep as `residual_stack_spec`."""
    body = [layer for _ in range(2 * blocks) for layer in
            ({"type": "conv", "out_channels": channels, "kernel_size": 3, "padding": 1},
             {"type": "relu"})]
    return _stack_spec(f"Plain stack, {2 * blocks + 1} convs", _stem(channels) + body,
                       "A plain deep stack of 3x3 convs: compare it with the residual one.")


def residual_stack_spec(blocks: int, channels: int = 8) -> S.ModelSpec:
    """The same stem and the same number of 3x3 convs, in `blocks` residual blocks."""
    body = [{"type": "residual", "out_channels": channels} for _ in range(blocks)]
    return _stack_spec(f"Residual stack, {2 * blocks + 1} convs", _stem(channels) + body,
                       "The plain stack's convs in residual blocks (identity shortcuts).")


def conv3x3_layers(network: nn.Module) -> list[nn.Conv2d]:
    """The network's 3x3 convs in forward order (inside residual blocks too)."""
    return [m for m in network.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]


@dataclass
class DepthRun:
    """One network's short training run."""

    spec: S.ModelSpec = field(repr=False)
    losses: list[float]          # training loss at every step
    norm_steps: list[int]        # steps at which gradient norms were recorded (from 1)
    grad_norms: np.ndarray       # [records, convs]: L2 norm of each 3x3 conv's weight grad
    test_acc: float              # on the held-out digits, after training
    params: int                  # from model.analyze

    @property
    def first_grad_norms(self) -> np.ndarray:
        """Per conv, at the first step (the network as initialised)."""
        return self.grad_norms[0]

    @property
    def mean_grad_norms(self) -> np.ndarray:
        return self.grad_norms.mean(axis=0)


@dataclass
class DegradationResult:
    plain: DepthRun
    residual: DepthRun
    dataset: str                 # what the digits came from
    steps: int
    batch_size: int
    seconds: float               # wall time of both runs

    @property
    def first_layer_ratio(self) -> float:
        """How many times smaller the first conv's gradient is in the plain stack (step 1)."""
        return float(self.residual.first_grad_norms[0]
                     / max(self.plain.first_grad_norms[0], 1e-30))


@functools.lru_cache(maxsize=2)
def _digits(train_count: int, test_count: int) -> tuple[D.Dataset, str]:
    dataset = D.load_dataset("mnist", download=False, limit_train=train_count)
    dataset = dataclasses.replace(dataset, test_x=dataset.test_x[:test_count],
                                  test_y=dataset.test_y[:test_count])
    label = ("the embedded 5,000-digit MNIST subset" if dataset.is_subset else "MNIST")
    return dataset, f"{train_count:,} {label} training digits, {test_count:,} test digits"


def train_briefly(model_spec: S.ModelSpec, dataset: D.Dataset, steps: int, batch_size: int,
                  seed: int = 0, record_every: int = 1) -> DepthRun:
    """SGD with momentum (the spec's lr) on random batches, seeded; every `record_every`
    steps the weight-gradient norm of every 3x3 conv is kept."""
    analysis = M.analyze(model_spec)
    network = M.build_model(model_spec, generator=torch.Generator().manual_seed(seed),
                            analysis=analysis).train()
    config = S.resolve_training(model_spec.training)
    optimizer = torch.optim.SGD(network.parameters(), lr=config.lr, momentum=config.momentum)
    batches = torch.Generator().manual_seed(seed + 1)
    convs = conv3x3_layers(network)
    losses, norm_steps, norms = [], [], []
    for step in range(1, steps + 1):
        batch = torch.randint(0, len(dataset.train_y), (batch_size,), generator=batches)
        loss, _ = train_step(network, optimizer, dataset.train_x[batch], dataset.train_y[batch])
        if step == 1 or step % record_every == 0 or step == steps:
            # The optimizer step leaves the gradients in place until the next step.
            norm_steps.append(step)
            norms.append([float(conv.weight.grad.norm()) for conv in convs])
        losses.append(float(loss))
    network.eval()
    accuracy = evaluate(network, dataset.test_x, dataset.test_y, analysis=analysis).accuracy
    return DepthRun(model_spec, losses, norm_steps, np.array(norms), accuracy,
                    analysis.total_params)


def degradation_experiment(blocks: int = 7, steps: int = 120, batch_size: int = 32,
                           train_count: int = 2000, test_count: int = 1000, channels: int = 8,
                           seed: int = 0) -> DegradationResult:
    """A plain stack and a residual stack with the same number of 3x3 convs (2 x blocks + 1),
    trained the same way on the same digits and batches."""
    if not 1 <= blocks <= MAX_BLOCKS:
        raise ValueError(f"blocks must be 1..{MAX_BLOCKS} (the spec's {S.LIMITS.max_layers}"
                         f"-layer limit), got {blocks}")
    started = time.perf_counter()
    dataset, label = _digits(train_count, test_count)
    # These tensors are tiny (8 channels, 7x7): sharing each op between threads costs more
    # than it saves, and on a busy 2-core machine it was 10-100x slower (3 s on one thread
    # against 20-300 s on two). It is restored afterwards; trainer threads pin their own.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = [train_briefly(spec, dataset, steps, batch_size, seed, record_every=5)
                for spec in (plain_stack_spec(blocks, channels),
                             residual_stack_spec(blocks, channels))]
    finally:
        torch.set_num_threads(threads)
    return DegradationResult(runs[0], runs[1], label, steps, batch_size,
                             time.perf_counter() - started)


# --- the bottleneck block ------------------------------------------------------------------

@dataclass
class BottleneckCount:
    channels: int
    width: int
    basic_params: int            # residual(channels): two 3x3 convs + BN, from analyze
    bottleneck_params: int       # residual(channels, bottleneck_width=width)
    basic_macs: int
    bottleneck_macs: int


def block_spec(channels: int, width: int | None, size: int = 14) -> S.ModelSpec:
    """A 1x1 conv to `channels`, then one residual block (basic when width is None)."""
    block = {"type": "residual", "out_channels": channels, "bottleneck_width": width}
    return S.parse_spec({"version": 1, "name": "bottleneck" if width else "basic block",
                         "input": [3, size, size], "num_classes": 10,
                         "layers": [{"type": "conv", "out_channels": channels,
                                     "kernel_size": 1}, block, {"type": "global_avgpool"}]})


def bottleneck_count(channels: int = 256, width: int = 64, size: int = 14) -> BottleneckCount:
    basic = M.analyze(block_spec(channels, None, size)).layers[1]
    bottleneck = M.analyze(block_spec(channels, width, size)).layers[1]
    return BottleneckCount(channels, width, basic.params, bottleneck.params, basic.macs,
                           bottleneck.macs)


def bottleneck_latex(count: BottleneckCount) -> tuple[str, str]:
    """(two 3x3 convs, bottleneck) parameter formulas with the block's numbers; BN adds
    2 per channel of each conv (gamma and beta)."""
    c, w = count.channels, count.width
    basic = (rf"\text{{two 3x3: }} 2\,(C \cdot C \cdot 3^2) + 2\cdot 2C = 2\,({c}\cdot{c}"
             rf"\cdot 9) + 4\cdot{c} = {latex_int(count.basic_params)}")
    bottleneck = (rf"\text{{bottleneck: }} C w + w\cdot w\cdot 3^2 + w C + 2(w + w + C) = "
                  rf"{c}\cdot{w} + {w}\cdot{w}\cdot 9 + {w}\cdot{c} + 2({w}+{w}+{c}) = "
                  rf"{latex_int(count.bottleneck_params)}")
    return basic, bottleneck


# --- ResNet stages ---------------------------------------------------------------------------

def resnet_spec(stages: int = 3, blocks_per_stage: int = 2, base_channels: int = 16,
                bottleneck: bool = False, input_shape: tuple[int, int, int] = (3, 32, 32),
                num_classes: int = 10, dataset: str = "cifar10") -> S.ModelSpec:
    """Stem (conv3x3 + BN + ReLU), then stages that halve the resolution (stride 2 in each
    stage's first block, from the second stage on) and double the channels; bottleneck
    stages expand to 4 x their width, as in ResNet-50."""
    layers: list[dict] = [{"type": "conv", "out_channels": base_channels, "kernel_size": 3,
                           "padding": 1, "bias": False}, {"type": "batchnorm"},
                          {"type": "relu"}]
    for stage in range(stages):
        width = base_channels * 2 ** stage
        for block in range(blocks_per_stage):
            layers.append({"type": "residual",
                           "out_channels": 4 * width if bottleneck else width,
                           "stride": 2 if stage > 0 and block == 0 else 1,
                           "bottleneck_width": width if bottleneck else None})
    layers.append({"type": "global_avgpool"})
    kind = "bottleneck" if bottleneck else "basic"
    return S.parse_spec({
        "version": 1, "name": f"ResNet, {stages} stages x {blocks_per_stage} {kind} blocks",
        "description": "Each stage halves the resolution and doubles the channels; its first "
                       "block has a projection shortcut.",
        "input": list(input_shape), "num_classes": num_classes, "layers": layers,
        "training": {"dataset": dataset, "epochs": 1}})


@dataclass
class StageRow:
    index: int                   # spec layer index
    stage: int                   # from 1; 0 is the stem
    block: int                   # from 1 within its stage
    stride: int
    output_shape: tuple[int, ...]
    params: int
    projection: bool             # read off the built module's shortcut


def stage_rows(model_spec: S.ModelSpec) -> list[StageRow]:
    """Every residual block of the spec with its stage (a new stage starts where the
    channel count changes), shape and parameters from the analysis, and its shortcut
    kind from the real module."""
    analysis = M.analyze(model_spec)
    network = M.build_model(model_spec, analysis=analysis)
    rows: list[StageRow] = []
    stage, block, channels = 0, 0, None
    for info in analysis.layers:
        if info.type != "residual":
            continue
        if info.output_shape[0] != channels:
            stage, block, channels = stage + 1, 0, info.output_shape[0]
        block += 1
        shortcut = network[info.index].shortcut
        rows.append(StageRow(info.index, stage, block, info.layer.stride,
                             tuple(info.output_shape), info.params,
                             not isinstance(shortcut, nn.Identity)))
    return rows
