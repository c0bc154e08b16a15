"""Trained weights as a file: a state_dict of tensors, saved and read back safely.

Two formats. A `.pt` file is a pickle, and unpickling can run any code: it is read only
with `torch.load(weights_only=True)`, which refuses every object that is not a tensor or
plain data. A `.safetensors` file is a JSON header and raw tensor bytes, a format that
cannot carry code at all. Which one a file is comes from its first bytes, not its name.
Either way the tensors must then match the network they are loaded into, and a mismatch
names the first layer that does not fit.
"""
from __future__ import annotations

import io
import pickle
import re

import torch

from playground.model import build as M
from playground import spec as S

StateDict = dict[str, torch.Tensor]
MAX_CHECKPOINT_BYTES = 100 * 2**20  # 20M float32 parameters (the spec limit) is 80 MB


class CheckpointError(ValueError):
    """A weights file cannot be used; the message is one line for the user."""


def to_bytes(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def to_safetensors(state: dict[str, torch.Tensor]) -> bytes:
    """The state_dict as a `.safetensors` file (every tensor contiguous and its own)."""
    from safetensors.torch import save

    return save({name: tensor.detach().cpu().contiguous().clone()
                 for name, tensor in state.items()})


def is_safetensors(data: bytes) -> bool:
    """A little-endian header length, then a JSON object: a `.safetensors` file."""
    if len(data) < 10:
        return False
    # A truncated file still says so: reading it then reports the damage.
    return int.from_bytes(data[:8], "little") >= 2 and data[8:9] == b"{"


def read_state_dict(data: bytes) -> dict[str, torch.Tensor]:
    """The tensors in a weights file (`.pt` or `.safetensors`), never running code that a
    pickle may carry."""
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"the file is {len(data) / 2**20:.1f} MB, over the limit of "
                              f"{MAX_CHECKPOINT_BYTES // 2**20} MB for trained weights")
    if is_safetensors(data):
        return _read_safetensors(data)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        unsafe = f"a reference to {found.group(1)}" if found else "objects other than tensors"
        raise CheckpointError(f"the file was refused: it holds {unsafe}, which "
                              "could run code when opened; only weights (tensors) are "
                              "accepted") from None
    except Exception as error:  # zip/pickle damage comes as many different types
        raise CheckpointError(f"the file is neither a PyTorch (.pt) nor a .safetensors "
                              f"weights file ({type(error).__name__})") from None
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError("the file holds no state_dict (a dict of named tensors)")
    return state


def _read_safetensors(data: bytes) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    try:
        return dict(load(data))
    except Exception as error:  # SafetensorError, or a header that is not valid JSON
        raise CheckpointError(f"the .safetensors file is damaged ({type(error).__name__})"
                              ) from None


def check_fits(state: dict[str, torch.Tensor], model_spec: S.ModelSpec) -> None:
    """CheckpointError naming the first layer whose tensors do not fit the spec's network."""
    analysis = M.analyze(model_spec)
    expected = M.build_model(model_spec, "meta", analysis=analysis).state_dict()
    kinds = {str(info.index): info.type for info in analysis.layers}

    def layer(key: str) -> str:
        index = key.split(".")[0]
        return f"layer {index} ({kinds[index]})" if index in kinds else f"tensor {key}"

    problem = None
    for name, tensor in expected.items():
        if name not in state:
            problem = f"{layer(name)} has no {name} in the file"
        elif tuple(state[name].shape) != tuple(tensor.shape):
            problem = (f"{layer(name)}: {name} is {list(state[name].shape)} in the file, the "
                       f"network has {list(tensor.shape)}")
        elif state[name].dtype.is_floating_point != tensor.dtype.is_floating_point:
            problem = f"{layer(name)}: {name} holds {state[name].dtype} values"
        if problem:
            break
    if problem is None:
        extra = [name for name in state if name not in expected]
        if extra:
            problem = f"the file has {extra[0]}, which the network does not"
    if problem:
        raise CheckpointError(f"the weights do not fit {model_spec.name!r}: {problem}")


def load_weights(data: bytes, model_spec: S.ModelSpec) -> torch.nn.Module:
    """The spec's network (on the CPU, eval mode) with the weights in `data`."""
    state = read_state_dict(data)
    check_fits(state, model_spec)
    network = M.build_model(model_spec, "cpu")
    network.load_state_dict(state)
    return network.eval()
