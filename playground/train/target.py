"""Deciding cheaply when a run may have reached its target accuracy.

A run with a target checks the test set ten times an epoch (DESIGN.md, CLI). A check on
the whole test set costs as much as a tenth of an epoch's training on a CPU, so a check
between epoch ends looks at a fixed stratified subset first, and only a subset that comes
close to the target sends the run to a whole test-set evaluation, which alone can confirm
the target.
"""
from __future__ import annotations

import math

import torch

# The contract's smallest subset: about 0.3 percentage points of standard error at 98%.
CHECK_IMAGES = 2000
SUBSET_SEED = 0  # the same subset on every run


def stratified_subset(labels: torch.Tensor, size: int) -> torch.Tensor:
    """Sorted indices of `size` images, each class its share of `labels` (rounded); the
    same on every call. Evenly spaced picks through the images sorted by class (in a fixed
    random order within each class) give every class floor or ceil of its share."""
    count = len(labels)
    order = torch.randperm(count, generator=torch.Generator().manual_seed(SUBSET_SEED))
    by_class = order[torch.argsort(labels.cpu()[order], stable=True)]
    picks = ((torch.arange(size, dtype=torch.float64) + 0.5) * count / size).long()
    return by_class[picks].sort().values


def confirm_threshold(target: float, subset_size: int) -> float:
    """The subset accuracy from which the whole test set is evaluated: the target less two
    standard errors of an accuracy measured on `subset_size` images, so that a subset that
    happens to score low seldom hides a network that has reached the target."""
    standard_error = math.sqrt(target * (1 - target) / subset_size)
    return target - 2 * standard_error
