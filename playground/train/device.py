"""Where a run computes: the device, bf16 autocast, torch.compile, and what a failure means."""
from __future__ import annotations

import contextlib
import sys
from typing import Callable, ContextManager

import torch

from playground import spec as S
from playground.model import build as M
from playground.model.build import Analysis


def pick_device(requested: str = "auto") -> torch.device:
    """cuda, then mps, then cpu for "auto"; a clear error when a named device is absent."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but no CUDA GPU is available "
                           "(use --device auto or cpu)")
    if requested == "mps" and not (getattr(torch.backends, "mps", None)
                                   and torch.backends.mps.is_available()):
        raise RuntimeError("device mps was requested but is not available")
    if requested not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be auto, cpu, cuda or mps, got {requested!r}")
    return torch.device(requested)


def autocast_for(device: torch.device, enabled: bool) -> ContextManager:
    """bf16 autocast for a forward pass on CUDA or the CPU when enabled; a no-op otherwise.

    bf16 has fp32's exponent range, so unlike fp16 it needs no loss scaling; the weights
    and their gradients stay fp32. Callers enable it only where bf16 is native
    (`uses_bf16`), so a CPU run changes only when its settings ask for it.
    """
    if enabled and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def has_native_bf16(device: torch.device) -> bool:
    """Ampere or newer: older GPUs only emulate bf16, slower than plain fp32."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: oneDNN's bf16 convolutions run about twice as fast as fp32
    there; other CPUs emulate bf16, slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def uses_bf16(device: torch.device, config: S.TrainingConfig,
              gpu_mixed_precision: bool = True) -> bool:
    """Whether a run's forward passes run under bf16 autocast: on a GPU with native bf16
    unless the caller turns it off; on a CPU only when `config.cpu_bf16` asks and the
    CPU has it natively."""
    if device.type == "cuda":
        return gpu_mixed_precision and has_native_bf16(device)
    return device.type == "cpu" and config.cpu_bf16 and cpu_has_native_bf16()


def memory_format(config: S.TrainingConfig) -> torch.memory_format:
    """NHWC when `config.channels_last`: oneDNN's and cuDNN's fastest convolutions read
    that layout, so NCHW tensors are converted at every layer otherwise."""
    return torch.channels_last if config.channels_last else torch.contiguous_format


def compile_network(network: torch.nn.Module,
                    device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """A forward through torch.compile(network): the same module and parameters, so
    state_dict, snapshots and inspection copies see exactly what eager training would.
    It compiles lazily, on the first call (see failure_message for its errors)."""
    # On CUDA, "reduce-overhead" replays the step as CUDA graphs: a playground network is
    # dozens of tiny kernels whose launch cost from Python outweighs their work, and a
    # graph launches them all at once. CPU has no graphs; the default mode fuses ops.
    # dynamic=False: a run sees two batch shapes (the batch size and an epoch's short last
    # batch); a graph specialised to each is faster than one with a symbolic batch size.
    if device.type != "cuda":
        return torch.compile(network, dynamic=False)
    compiled = torch.compile(network, mode="reduce-overhead", dynamic=False)

    def forward(images: torch.Tensor) -> torch.Tensor:
        # Say explicitly that a new step begins rather than leave it to torch's guess: the
        # graphs may then reuse the memory of the last step's outputs (all read by now).
        torch.compiler.cudagraph_mark_step_begin()
        return compiled(images)

    return forward


def is_compile_error(error: BaseException) -> bool:
    """An error of torch.compile's (tracing, or a backend such as the C++ compiler)."""
    dynamo = sys.modules.get("torch._dynamo.exc")  # only loaded once something compiled
    return dynamo is not None and isinstance(error, dynamo.TorchDynamoException)


def compile_reason(error: BaseException) -> str:
    """The error torch.compile wraps (e.g. no C++ compiler), as one line."""
    inner = getattr(error, "inner_exception", None) or error
    text = str(inner).strip()
    detail = f": {text.splitlines()[0][:200]}" if text else ""
    return f"torch.compile failed ({type(inner).__name__}{detail})"


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's own error, the host allocator's RuntimeError, or Python's MemoryError."""
    if isinstance(error, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text)


def failure_message(error: BaseException, device: torch.device, batch_size: int,
                    step: int, analysis: Analysis | None = None,
                    doing: str = "training step") -> str:
    """One line for the page: why the run failed and, when there is one, what to change.

    `doing` is what the run was doing ("training step" or "test-set evaluation");
    with the network's `analysis`, an out-of-memory failure names the layer outputs that
    filled the memory when they are the cause."""
    if is_out_of_memory(error):
        return out_of_memory_message(device, batch_size, step, analysis, doing)
    if is_compile_error(error):
        return f"training failed at step {step}: {compile_reason(error)}; train without compile"
    detail = str(error).splitlines()[0][:200] if str(error) else ""
    return f"training failed at step {step}: {type(error).__name__}" + (
        f": {detail}" if detail else "")


# Layer outputs that take at least this share of the activation budget are what filled
# the memory; below it, the batch as a whole (gradients, optimizer state) is the suspect.
ACTIVATION_CAUSE_SHARE = 0.25


def out_of_memory_message(device: torch.device, batch_size: int, step: int,
                          analysis: Analysis | None, doing: str) -> str:
    smaller = max(1, batch_size // 2)
    generic = (f"training failed: out of memory on {device} at step {step} with batch "
               f"size {batch_size}; try a smaller batch (e.g. {smaller}) or a smaller "
               "network, then reset")
    if analysis is None or not analysis.layers:
        return generic
    budget = S.LIMITS.max_activation_bytes
    layer = max(analysis.layers, key=lambda info: info.output_floats)
    heaviest = (f"layer {layer.index} ({layer.type}) outputs "
                f"{_megabytes(layer.output_floats * M.FLOAT_BYTES)} per image, "
                f"{_megabytes(analysis.activation_bytes)} for all layers")
    if doing != "training step":
        per_pass = M.images_per_pass(analysis)
        return (f"training failed: out of memory on {device} at step {step} in the "
                f"{doing}: {heaviest}, so it runs {per_pass} images at a time, up to the "
                f"{_megabytes(budget)} activation budget, and this machine had less free; "
                f"make layer {layer.index} smaller, or train when fewer runs are active, "
                "then reset")
    batch_bytes = analysis.activation_bytes * batch_size
    if batch_bytes < ACTIVATION_CAUSE_SHARE * budget:
        return generic
    return (f"training failed: out of memory on {device} at step {step} with batch size "
            f"{batch_size}: {heaviest}, {_megabytes(batch_bytes)} for the batch (limit "
            f"{_megabytes(budget)}); try a smaller batch (e.g. {smaller}) or make layer "
            f"{layer.index} smaller, then reset")


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"
