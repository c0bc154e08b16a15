"""Inspection work on a copy of a run's weights: the network rebuilt from its spec and a
CPU state_dict, and what the pages ask of it (probes, predictions, dead filters)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from playground import spec as S
from playground.analysis import diagnostics as Dg
from playground.analysis import probe as P
from playground.analysis.network import model_from_state
from playground.data.datasets import Dataset
from playground.model import build as M
from playground.model.build import Analysis

State = Mapping[str, torch.Tensor]


def network_at(model_spec: S.ModelSpec, state: State, analysis: Analysis | None = None,
               reuse: nn.Module | None = None) -> nn.Module:
    """An eval-mode CPU network holding `state`. `reuse`, a network of the same
    architecture, gets the weights copied in: far cheaper than a rebuild."""
    if reuse is None:
        return model_from_state(model_spec, state, analysis)
    with torch.no_grad():
        reuse.load_state_dict(state)
    return reuse


def test_probe(data: Dataset, index: int) -> tuple[torch.Tensor, int]:
    """(normalised float32 [C, H, W] CPU image, label) of test image `index`."""
    return data.test_x[index].to("cpu", torch.float32), int(data.test_y[index])


def predict_test_set(model_spec: S.ModelSpec, state: State, data: Dataset, step: int,
                     epoch: float, analysis: Analysis | None = None) -> Dg.TestPredictions:
    """Top-3 predictions on the whole test set with these weights, in chunks sized from
    the activation budget (`analysis`, the spec's own, saves analysing it again)."""
    analysis = analysis or M.analyze(model_spec)
    network = model_from_state(model_spec, state, analysis)
    return Dg.predict_top_k(network, data.test_x.to("cpu"), step=step, epoch=epoch,
                            per_pass=M.images_per_pass(analysis))


def dead_filters(model_spec: S.ModelSpec, state: State, data: Dataset, images: int,
                 analysis: Analysis | None = None) -> list[Dg.DeadFilters]:
    """Dead filters of these weights on the first `images` test images, in chunks sized
    from the activation budget."""
    analysis = analysis or M.analyze(model_spec)
    network = model_from_state(model_spec, state, analysis)
    return Dg.dead_filters(network, data.test_x[:images].to("cpu"),
                           per_pass=M.images_per_pass(analysis))


def next_mistake(network: nn.Module, data: Dataset, after: int,
                 analysis: Analysis) -> int | None:
    """The first test image after `after` that `network` gets wrong, searched in batches
    that fit the activation budget."""
    batch = min(P.MISTAKE_BATCH, M.images_per_pass(analysis))
    return P.next_mistake(network, data.test_x, data.test_y, after=after, batch=batch)


def kernel_frames(states: Sequence[tuple[int, State]], weight_key: str, out: int,
                  inn: int) -> list[tuple[int, np.ndarray]]:
    """(step, one 2-D kernel) from each snapshot: how a kernel changed while training."""
    return [(step, state[weight_key][out, inn].numpy()) for step, state in states]
