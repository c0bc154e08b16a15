"""One training step and one evaluation pass: the arithmetic every trained network shares,
whether the Trainer runs it or a lesson trains a small network itself."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from playground.analysis import diagnostics as Dg
from playground.model import build as M
from playground.train.device import autocast_for
from playground.train.passes import StopCheck, chunks, pass_slot


def train_step(network: torch.nn.Module, optimizer: torch.optim.Optimizer,
               images: torch.Tensor, labels: torch.Tensor, *,
               forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
               mixed_precision: bool = False,
               label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on a batch: (mean loss, number of correct predictions), both
    detached tensors on the batch's device, so a caller syncs with the host only when it
    reads them. `forward` replaces `network`'s own (e.g. a compiled one); with
    `mixed_precision` the forward pass runs under bf16 autocast on CUDA."""
    with autocast_for(images.device, mixed_precision):
        logits = (forward or network)(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), (logits.detach().argmax(1) == labels).sum()


@dataclass
class Evaluation:
    """Summed loss and correct predictions over `count` images; with keep_top, each
    image's top classes and their probabilities (CPU tensors, count x keep_top)."""

    loss_sum: float
    correct: int
    count: int
    top_classes: torch.Tensor | None = None
    top_probs: torch.Tensor | None = None

    @property
    def loss(self) -> float:
        return self.loss_sum / self.count

    @property
    def accuracy(self) -> float:
        return self.correct / self.count


@torch.no_grad()
def evaluate(network: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
             analysis: M.Analysis | None = None, chunk: int | None = None,
             should_stop: StopCheck | None = None, mixed_precision: bool = False,
             keep_top: int = 0, flip: bool = False) -> Evaluation:
    """Loss and accuracy of `network` in eval mode, in chunks of `chunk` images, by default
    `model.build.images_per_pass(analysis)` (the network's own analysis: without one, at
    most MAX_IMAGES_PER_PASS, for the small fixed networks lessons build). Between chunks
    it raises PassStopped once `should_stop()` says so. With `flip` the logits are the mean
    of each image's and its mirror image's. The network is back in its previous mode
    afterwards, even when the pass fails or stops."""
    if chunk is None:
        chunk = M.images_per_pass(analysis) if analysis is not None else M.MAX_IMAGES_PER_PASS
    device = images.device
    was_training = network.training
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    classes, probs = [], []
    network.eval()
    try:
        for part in chunks(len(labels), chunk, should_stop):
            batch, batch_labels = images[part], labels[part]
            with pass_slot(should_stop), autocast_for(device, mixed_precision):
                logits = network(batch).float()  # fp32 sums and probabilities
                if flip:
                    logits = (logits + network(batch.flip(3)).float()) / 2
            loss_sum += F.cross_entropy(logits, batch_labels, reduction="sum")
            correct += (logits.argmax(1) == batch_labels).sum()
            if keep_top:
                top_classes, top_probs = Dg.top_k(logits, keep_top)
                classes.append(top_classes)
                probs.append(top_probs)
    finally:
        network.train(was_training)
    evaluation = Evaluation(float(loss_sum), int(correct), len(labels))
    if keep_top:
        evaluation.top_classes = torch.cat(classes).cpu()
        evaluation.top_probs = torch.cat(probs).cpu()
    return evaluation
