"""An exponential moving average of a network's weights: what evaluation and snapshots
read when a run sets `ema_decay`. Averaging over the last few hundred steps smooths out
the noise of single SGD steps, which is worth a few points of accuracy on short runs."""
from __future__ import annotations

import copy

import torch


class WeightAverage:
    """A copy of `network` whose parameters follow the live ones:
    average <- decay * average + (1 - decay) * live, after every training step.

    Early on the decay is lowered to (1 + n) / (10 + n) after n updates, so the average is
    not dragged back towards the random initial weights for the first thousand steps.
    BatchNorm's running statistics are already averages: they are copied as they are.
    """

    def __init__(self, network: torch.nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.network = copy.deepcopy(network).requires_grad_(False)
        self._live = network

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        averaged = [p for p in self.network.parameters()]
        live = [p.detach() for p in self._live.parameters()]
        torch._foreach_lerp_(averaged, live, 1.0 - decay)
        for average_buffer, live_buffer in zip(self.network.buffers(), self._live.buffers()):
            average_buffer.copy_(live_buffer)
