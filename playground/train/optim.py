"""The optimizer and learning-rate schedule a TrainingConfig asks for."""
from __future__ import annotations

import torch

from playground import spec as S


def make_optimizer(network: torch.nn.Module, config: S.TrainingConfig) -> torch.optim.Optimizer:
    params = network.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay, nesterov=config.momentum > 0)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, config: S.TrainingConfig,
                   total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """OneCycleLR for the "onecycle" schedule, None for a constant learning rate."""
    if config.schedule != "onecycle":
        return None
    return torch.optim.lr_scheduler.OneCycleLR(
        # OneCycleLR divides by the warm-up's length, pct_start * total - 1: zero for a
        # 4-step run, so very short runs get a one-step-longer schedule (5 is the least).
        optimizer, max_lr=config.lr, total_steps=max(total_steps, 5), pct_start=0.25,
        cycle_momentum=config.optimizer == "sgd")
