"""The optimizer and learning-rate schedule a TrainingConfig asks for."""
from __future__ import annotations

import torch

from playground import spec as S


def make_optimizer(network: torch.nn.Module, config: S.TrainingConfig) -> torch.optim.Optimizer:
    params = network.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay, nesterov=uses_nesterov(config))
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def uses_nesterov(config: S.TrainingConfig) -> bool:
    """Nesterov needs momentum (torch refuses it without); unset means on, as it always was."""
    wanted = True if config.nesterov is None else config.nesterov
    return wanted and config.momentum > 0


def warmup_steps(config: S.TrainingConfig, total_steps: int) -> int:
    return round(config.warmup_fraction * total_steps)


def make_scheduler(optimizer: torch.optim.Optimizer, config: S.TrainingConfig,
                   total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """OneCycleLR for "onecycle"; warm-up then a linear decay to 0 for "linear"; for
    "constant", a warm-up when warmup_fraction asks for one, else None (a fixed rate)."""
    warmup = warmup_steps(config, total_steps)
    if config.schedule == "onecycle":
        # OneCycleLR divides by the warm-up's length, pct_start * total - 1: zero for a
        # 4-step run, so very short runs get a one-step-longer schedule (5 is the least).
        steps = max(total_steps, 5)
        # A set warm-up replaces one-cycle's own quarter, at least the two steps it needs.
        pct_start = max(config.warmup_fraction, 2 / steps) if config.warmup_fraction else 0.25
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=steps, pct_start=pct_start,
            cycle_momentum=config.optimizer == "sgd")
    if config.schedule == "linear":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: _linear_factor(step, warmup, total_steps))
    if warmup > 0:
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / warmup))
    return None


def _linear_factor(step: int, warmup: int, total_steps: int) -> float:
    """Up from 1/warmup to 1 over the warm-up's steps, then down in a straight line that
    would reach 0 one step after the last (so no step is wasted at a zero rate)."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup))
