"""Where a run computes: device choice and bf16 autocast, decided without a GPU."""
from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

from playground.train.device import autocast_for, has_native_bf16, pick_device


def test_missing_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        pick_device("cuda")
    assert pick_device("auto").type in ("cpu", "mps")


def test_autocast_only_for_cuda():
    """The choice of context needs no GPU: it is made from the device object alone."""
    for device, enabled in (("cpu", True), ("mps", True), ("cuda", False)):
        context = autocast_for(torch.device(device), enabled)
        assert isinstance(context, contextlib.nullcontext), device
    with warnings.catch_warnings():  # without a GPU torch warns that it would disable it
        warnings.simplefilter("ignore")
        context = autocast_for(torch.device("cuda"), enabled=True)
    assert isinstance(context, torch.autocast)
    assert context.device == "cuda" and context.fast_dtype == torch.bfloat16
    assert not has_native_bf16(torch.device("cpu"))
