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


def test_autocast_for_cuda_and_for_a_cpu_run_that_asks():
    """The choice of context needs no GPU: it is made from the device object alone. On a
    CPU it autocasts only when enabled, which a run is only when its settings ask for it
    on a CPU with native bf16 (`uses_bf16`, tested with the fast training settings)."""
    for device, enabled in (("cpu", False), ("mps", True), ("cuda", False)):
        context = autocast_for(torch.device(device), enabled)
        assert isinstance(context, contextlib.nullcontext), device
    cpu = autocast_for(torch.device("cpu"), True)
    assert isinstance(cpu, torch.autocast) and cpu.fast_dtype == torch.bfloat16
    with warnings.catch_warnings():  # without a GPU torch warns that it would disable it
        warnings.simplefilter("ignore")
        context = autocast_for(torch.device("cuda"), enabled=True)
    assert isinstance(context, torch.autocast)
    assert context.device == "cuda" and context.fast_dtype == torch.bfloat16
    assert not has_native_bf16(torch.device("cpu"))
