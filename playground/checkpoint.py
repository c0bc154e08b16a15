"""Trained weights as a file: a state_dict of tensors, saved and read back safely.

A `.pt` file is a pickle, and unpickling can run any code. Files are therefore read only
with `torch.load(weights_only=True)`, which refuses every object that is not a tensor or
plain data, and the tensors must then match the network they are loaded into.
"""
from __future__ import annotations

import io
import pickle
import re

import torch

from playground.model import build as M
from playground import spec as S

MAX_CHECKPOINT_BYTES = 100 * 2**20  # 20M float32 parameters (the spec limit) is 80 MB


class CheckpointError(ValueError):
    """A weights file cannot be used; the message is one line for the user."""


def to_bytes(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def read_state_dict(data: bytes) -> dict[str, torch.Tensor]:
    """The tensors in a weights file, never running code that a pickle may carry."""
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"the file is {len(data) / 2**20:.1f} MB, over the limit of "
                              f"{MAX_CHECKPOINT_BYTES // 2**20} MB for trained weights")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        unsafe = f"a reference to {found.group(1)}" if found else "objects other than tensors"
        raise CheckpointError(f"the file was refused: it holds {unsafe}, which "
                              "could run code when opened; only weights (tensors) are "
                              "accepted") from None
    except Exception as error:  # zip/pickle damage comes as many different types
        raise CheckpointError(f"the file is not a PyTorch weights file "
                              f"({type(error).__name__})") from None
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError("the file holds no state_dict (a dict of named tensors)")
    return state


def load_weights(data: bytes, model_spec: S.ModelSpec) -> torch.nn.Module:
    """The spec's network (on the CPU, eval mode) with the weights in `data`."""
    state = read_state_dict(data)
    network = M.build_model(model_spec, "cpu")
    expected = network.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        names = ", ".join((missing or extra)[:3])
        raise CheckpointError(f"the weights do not fit {model_spec.name!r}: "
                              f"{'missing' if missing else 'unexpected'} {names}")
    for name, tensor in expected.items():
        if state[name].shape != tensor.shape:
            raise CheckpointError(f"the weights do not fit {model_spec.name!r}: {name} is "
                                  f"{list(state[name].shape)}, the network has "
                                  f"{list(tensor.shape)}")
    network.load_state_dict(state)
    return network.eval()
