"""Lessons compute in float64, so their checks against torch agree to ~1e-15, not ~1e-7."""
from __future__ import annotations

import numpy as np
import torch


def float64_tensor(values) -> torch.Tensor:
    """A float64 tensor holding a copy of `values` (an array, a list or a number)."""
    return torch.as_tensor(np.array(values, dtype=np.float64))
