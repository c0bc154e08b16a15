"""Diagnostics a student can act on: layer norms, dead filters, test predictions, warnings.

Pure functions over tensors and metric records. The trainer calls `layer_norms` and
`top_k` inside its own thread (cheap, at log points); everything that needs a forward pass
of its own (`dead_filters`, `predict_top_k`) runs on an inspection copy of the network,
never on the module being trained.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from playground.model.build import MAX_IMAGES_PER_PASS
from playground.train.passes import StopCheck, chunks, forward_in_chunks, pass_slot


# --- norms (trainer thread, every log_every steps) ------------------------------------------

def layer_parameters(network: nn.Module) -> dict[int, list[torch.nn.Parameter]]:
    """Trainable parameters grouped by top-level layer index ("3.weight" -> layer 3)."""
    groups: dict[int, list[torch.nn.Parameter]] = {}
    for name, parameter in network.named_parameters():
        head = name.split(".", 1)[0]
        if parameter.requires_grad and head.isdigit():
            groups.setdefault(int(head), []).append(parameter)
    return dict(sorted(groups.items()))


@torch.no_grad()
def layer_norms(network: nn.Module) -> tuple[list[int], list[float], list[float]]:
    """(layer indices, weight L2 norms, gradient L2 norms) over each layer's parameters.

    A layer's norm covers all its parameters (weight and bias) as one vector. Gradients
    are the ones left by the last backward pass (NaN where there is none). One host sync.
    """
    groups = layer_parameters(network)
    if not groups:
        return [], [], []
    rows = []
    for parameters in groups.values():
        weight = torch.stack([p.detach().float().pow(2).sum() for p in parameters]).sum()
        grads = [p.grad.detach().float().pow(2).sum() for p in parameters if p.grad is not None]
        grad = torch.stack(grads).sum() if grads else torch.full_like(weight, float("nan"))
        rows.append(torch.stack([weight, grad]))
    values = torch.stack(rows).sqrt().cpu().tolist()
    return list(groups), [w for w, _ in values], [g for _, g in values]


# --- dead filters (inspection copy) --------------------------------------------------------

@dataclass
class DeadFilters:
    conv_index: int      # the conv layer
    relu_index: int      # the ReLU whose output is looked at
    dead: int            # filters whose ReLU output is zero everywhere on the batch
    total: int
    dead_channels: list[int]


def _children(network: nn.Module) -> list[tuple[int, nn.Module]]:
    return sorted((int(name), child) for name, child in network.named_children()
                  if name.isdigit())


def conv_relu_pairs(network: nn.Module) -> list[tuple[int, int]]:
    """(conv index, index of the ReLU that follows it) for every conv followed by a ReLU,
    possibly through BatchNorm or dropout. Leaky ReLU, GELU etc. cannot die this way."""
    children = _children(network)
    pairs = []
    for position, (index, child) in enumerate(children):
        if not isinstance(child, nn.Conv2d):
            continue
        for later_index, later in children[position + 1:]:
            if type(later) is nn.ReLU:
                pairs.append((index, later_index))
                break
            if not isinstance(later, (nn.modules.batchnorm._BatchNorm, nn.Dropout)):
                break
    return pairs


@torch.no_grad()
def dead_filters(network: nn.Module, images: torch.Tensor, per_pass: int = MAX_IMAGES_PER_PASS,
                 should_stop: StopCheck | None = None) -> list[DeadFilters]:
    """Per conv layer followed by a ReLU: how many filters output zero for every image and
    position of `images` (a dead filter gets no gradient, so it never recovers). The images
    go through in chunks of `per_pass` (`model.build.images_per_pass` of the network)."""
    pairs = conv_relu_pairs(network)
    children = dict(_children(network))
    peaks: dict[int, torch.Tensor] = {}
    hooks = []
    for _, relu_index in pairs:
        def hook(module, inputs, output, relu_index=relu_index):
            peak = output.detach().amax(dim=(0, 2, 3)).cpu()
            seen = peaks.get(relu_index)
            peaks[relu_index] = peak if seen is None else torch.maximum(seen, peak)
        hooks.append(children[relu_index].register_forward_hook(hook))
    was_training = network.training
    network.eval()
    try:
        for part in chunks(len(images), per_pass, should_stop):
            with pass_slot(should_stop):
                network(images[part])
    finally:
        for handle in hooks:
            handle.remove()
        network.train(was_training)
    result = []
    for conv_index, relu_index in pairs:
        peak = peaks.get(relu_index)
        if peak is None:
            continue
        dead = (peak <= 0).nonzero().flatten().tolist()
        result.append(DeadFilters(conv_index, relu_index, len(dead), int(peak.numel()), dead))
    return result


# --- predictions ------------------------------------------------------------------------

@dataclass
class TestPredictions:
    """Top-k classes and probabilities for every test image at one training step."""

    step: int
    epoch: float
    top_classes: torch.Tensor        # [N, k] int64, CPU
    top_probs: torch.Tensor          # [N, k] float32, CPU

    @property
    def predicted(self) -> torch.Tensor:
        return self.top_classes[:, 0]


def top_k(logits: torch.Tensor, k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """(classes, probabilities) of the k most likely classes, on the logits' device."""
    probs, classes = logits.float().softmax(1).topk(min(k, logits.shape[1]), dim=1)
    return classes, probs


@torch.no_grad()
def predict_top_k(network: nn.Module, images: torch.Tensor, step: int = 0, epoch: float = 0.0,
                  k: int = 3, per_pass: int = MAX_IMAGES_PER_PASS) -> TestPredictions:
    """Top-k predictions of an inspection copy on `images` (on demand, not the trainer), in
    chunks of `per_pass` images (`model.build.images_per_pass` of the network)."""
    network.eval()
    classes, probs = top_k(forward_in_chunks(network, images, per_pass), k)
    return TestPredictions(step, epoch, classes.cpu(), probs.cpu())


def confusion_matrix(predicted: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray,
                     num_classes: int) -> np.ndarray:
    """[true class, predicted class] counts."""
    predicted = np.asarray(predicted, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels * num_classes + predicted, minlength=num_classes ** 2)
    return counts.reshape(num_classes, num_classes)


def gallery_indices(predicted: np.ndarray, labels: np.ndarray, *, mistakes_only: bool = False,
                    true_class: int | None = None, limit: int = 24) -> list[int]:
    """Test images to show: optionally only mistakes, optionally only one true class."""
    keep = np.ones(len(labels), dtype=bool)
    if mistakes_only:
        keep &= np.asarray(predicted) != np.asarray(labels)
    if true_class is not None:
        keep &= np.asarray(labels) == true_class
    return np.flatnonzero(keep)[:limit].tolist()


# --- warnings ----------------------------------------------------------------------------

@dataclass
class Advice:
    level: str      # "error" (act now), "warning" or "info"
    title: str
    text: str


MIN_RECORDS_FOR_LR_ADVICE = 8   # step records before judging the learning rate
OVERFIT_GAP = 0.10              # train minus test accuracy that counts as overfitting
DEAD_FRACTION = 0.5             # share of a layer's filters dead before it is worth a warning


def _finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def training_advice(step_records: Sequence, eval_records: Sequence = (),
                    epoch_records: Sequence = (), *, num_classes: int = 10,
                    lr: float | None = None,
                    dead: Sequence[DeadFilters] = ()) -> list[Advice]:
    """Plain-language warnings from the run's records, most urgent first."""
    advice: list[Advice] = []
    lr_text = f"the learning rate {lr:g}" if lr else "the learning rate"
    losses = [r.loss for r in step_records]
    bad = next((r for r in step_records if not math.isfinite(r.loss)), None)
    if bad is not None:
        advice.append(Advice(
            "error", "The loss blew up",
            f"The loss became {bad.loss} at step {bad.step}: the weights overflowed, so the "
            f"run was paused. {lr_text.capitalize()} is far too high: lower it about 10x "
            "and press Reset."))
        return advice
    if len(losses) >= 3 and losses[-1] > 2 * losses[0] and losses[-1] > losses[0] + 1:
        advice.append(Advice(
            "error", "The loss is exploding",
            f"The loss grew from {losses[0]:.3g} to {losses[-1]:.3g}. {lr_text.capitalize()} "
            "is too high: lower it about 10x."))
    elif len(losses) >= MIN_RECORDS_FOR_LR_ADVICE:
        first, recent = losses[0], losses[-3:]
        progress = (first - sum(recent) / 3) / max(abs(first), 1e-12)
        window = losses[-5:]
        mean = sum(window) / len(window)
        noise = (sum((v - mean) ** 2 for v in window) / len(window)) ** 0.5 / max(mean, 1e-12)
        chance = 1.5 / max(num_classes, 1)
        stuck = sum(r.train_acc for r in step_records[-3:]) / 3 <= chance
        if progress < 0.1 and (noise > 0.05 or max(losses) > 1.2 * first or stuck):
            advice.append(Advice(
                "warning", "Learning rate probably too high",
                f"After {step_records[-1].step} steps the loss has not come down "
                f"({first:.3g} -> {losses[-1]:.3g}) and jumps around. {lr_text.capitalize()} "
                "is probably too high: try about 10x lower."))
        elif progress < 0.1:
            advice.append(Advice(
                "warning", "Learning rate probably too low",
                f"After {step_records[-1].step} steps the loss has only crept from "
                f"{first:.3g} to {losses[-1]:.3g}. {lr_text.capitalize()} is probably too "
                "low: try about 10x higher."))
    if epoch_records:
        last = epoch_records[-1]
        gap = last.train_acc - last.test_acc
        if _finite([gap]) and gap > OVERFIT_GAP:
            advice.append(Advice(
                "warning", "Overfitting",
                f"Train accuracy {last.train_acc:.1%} but test accuracy {last.test_acc:.1%} "
                f"(a {gap:.0%} gap): the network memorises the training images. Try "
                "augmentation, dropout, weight decay, a smaller network or fewer epochs."))
    if len(eval_records) >= 3 and not any(a.title == "Overfitting" for a in advice):
        test_losses = [r.test_loss for r in eval_records]
        best = min(range(len(test_losses)), key=test_losses.__getitem__)
        if best < len(test_losses) - 1 and test_losses[-1] > 1.15 * test_losses[best]:
            advice.append(Advice(
                "warning", "Overfitting",
                f"The test loss was lowest ({test_losses[best]:.3g}) at step "
                f"{eval_records[best].step} and has risen to {test_losses[-1]:.3g} since: "
                "the network is starting to memorise. Stop here, or add augmentation, "
                "dropout or weight decay."))
    for layer in dead:
        if layer.total and layer.dead / layer.total >= DEAD_FRACTION:
            advice.append(Advice(
                "warning", f"Dead filters in layer {layer.conv_index}",
                f"{layer.dead} of {layer.total} filters of conv layer {layer.conv_index} "
                "output zero after their ReLU for every test image, so they get no "
                "gradient and cannot learn. Lower the learning rate, add BatchNorm, or use "
                "leaky_relu."))
    return advice
