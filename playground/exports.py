"""A trained network in open formats: `.safetensors` weights, ONNX, and PyTorch code with
its weights, for the page's downloads and `python -m playground export`.

The ONNX export goes through torch's default exporter (`torch.onnx.export(...,
dynamo=True)`, opset 18), which imports torch._dynamo, onnx and onnxscript: seconds of
imports, so they happen inside `onnx_bytes` and never when this module is imported (the
command line's `summary` and `train` must stay quick).
"""
from __future__ import annotations

import io
import os
import tempfile
import zipfile

import torch

from playground import checkpoint
from playground import share
from playground import spec as S
from playground.model import build as M

FORMATS = ("onnx", "safetensors", "pytorch")
ONNX_OPSET = 18
SUFFIXES = {"onnx": ".onnx", "safetensors": ".safetensors", "pytorch": ".zip"}


class ExportError(RuntimeError):
    """The exporter failed on this network; the message is one line for the user."""


def network_with(model_spec: S.ModelSpec, state: checkpoint.StateDict) -> M.Network:
    """The spec's network on the CPU in eval mode with `state` (checked to fit first)."""
    checkpoint.check_fits(state, model_spec)
    network = M.build_model(model_spec, "cpu")
    network.load_state_dict(state)
    return network.eval()


def onnx_bytes(model_spec: S.ModelSpec, state: checkpoint.StateDict) -> bytes:
    """The network as an ONNX model (opset 18) taking float32 [batch, C, H, W] normalised
    images and giving logits [batch, classes]; the batch size is free."""
    network = network_with(model_spec, state)
    example = torch.zeros(2, *model_spec.input)
    batch = torch.export.Dim("batch", min=1, max=65536)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "network.onnx")
        try:
            torch.onnx.export(network, (example,), path, dynamo=True, opset_version=ONNX_OPSET,
                              input_names=["images"], output_names=["logits"],
                              dynamic_shapes=({0: batch},), external_data=False,
                              verbose=False)
        except Exception as error:  # the exporter raises many types; say it in one line
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ExportError(f"ONNX export failed ({type(error).__name__}: {first})") from None
        with open(path, "rb") as exported:
            return exported.read()


def code_bundle(model_spec: S.ModelSpec, state: checkpoint.StateDict) -> bytes:
    """A `.zip` of the PyTorch code and its `.safetensors` weights, the code loading them."""
    checkpoint.check_fits(state, model_spec)
    weights_name = share.file_name(model_spec, ".safetensors")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(share.file_name(model_spec, ".py"),
                        M.export_python(model_spec, weights_file=weights_name))
        bundle.writestr(weights_name, checkpoint.to_safetensors(state))
    return buffer.getvalue()


def export(model_spec: S.ModelSpec, state: checkpoint.StateDict, fmt: str) -> bytes:
    """The network and weights as `fmt` (one of FORMATS)."""
    if fmt == "onnx":
        return onnx_bytes(model_spec, state)
    checkpoint.check_fits(state, model_spec)
    if fmt == "safetensors":
        return checkpoint.to_safetensors(state)
    if fmt == "pytorch":
        return code_bundle(model_spec, state)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
