"""A briefly trained MNIST fast network, shared by the tests of the panels that look at
what a network sees: its weights at initialisation and after a few hundred steps."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from playground import presets
from playground import spec as S
from playground.analysis.network import model_from_state
from playground.data import shared
from playground.data.datasets import Dataset
from playground.model.build import build_model
from playground.train.step import train_step

STEPS = 300
BATCH = 64


@dataclass
class Trained:
    spec: S.ModelSpec
    data: Dataset
    initial: torch.nn.Module      # frozen eval-mode snapshots
    trained: torch.nn.Module


def train_mnist_fast(steps: int = STEPS) -> Trained:
    torch.manual_seed(0)
    model_spec = presets.load_preset("mnist_fast")
    data = shared.dataset("mnist")
    network = build_model(model_spec, "cpu", torch.Generator().manual_seed(0))
    initial = {k: v.clone() for k, v in network.state_dict().items()}
    optimizer = torch.optim.Adam(network.parameters(), lr=0.01)
    order = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(0))
    network.train()
    for step in range(steps):
        batch = order[step * BATCH:(step + 1) * BATCH]
        train_step(network, optimizer, data.train_x[batch].float(), data.train_y[batch])
    return Trained(model_spec, data, model_from_state(model_spec, initial),
                   model_from_state(model_spec, network.state_dict()))
