"""The backward pass: autograd's gradient at every layer of a small network, and the rules
behind it (pooling routes the gradient, a conv layer's is the flipped-kernel conv)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground import spec as S
from playground.lessons.tensors import float64_tensor
from playground.model import build as M


BACKWARD_LAYERS = [
    {"type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"type": "relu"},
    {"type": "maxpool", "kernel_size": 2},
    {"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"type": "relu"},
    {"type": "avgpool", "kernel_size": 2},
]


# An initialisation (seed) with few dead ReLUs on the sample digits: most channels show
# gradients, and channel 1 of conv 1 shows what a dead ReLU does to them.
BACKWARD_SEED = 4


def backward_spec() -> S.ModelSpec:
    return S.parse_spec({"version": 1, "name": "Backward pass",
                         "description": "conv, ReLU, max pool, conv, ReLU, average pool, "
                                        "then the automatic linear head.",
                         "input": [1, 28, 28], "num_classes": 10,
                         "layers": BACKWARD_LAYERS})


@dataclass
class LayerGradient:
    name: str                 # e.g. "1 relu"
    output: np.ndarray        # [C, H, W] or [F]
    grad_output: np.ndarray   # dL/d(output), same shape
    grad_weight: np.ndarray | None  # dL/dW for conv and linear layers


@dataclass
class BackwardPass:
    label: int
    loss: float
    probabilities: np.ndarray
    input_image: np.ndarray
    layers: list[LayerGradient]
    network: nn.Module


def backward_pass(image: np.ndarray, label: int, seed: int = BACKWARD_SEED) -> BackwardPass:
    """One image through the seeded network of `backward_spec` in float64, cross-entropy
    against its label, and autograd's gradient of the loss with respect to every layer's
    output and every conv/linear weight."""
    network = M.build_model(backward_spec(), generator=torch.Generator().manual_seed(seed))
    network = network.double().eval()
    x = float64_tensor(image)[None, None]
    outputs = []
    h = x
    for module in network:
        h = module(h)
        h.retain_grad()
        outputs.append(h)
    loss = F.cross_entropy(h, torch.tensor([label]))
    loss.backward()
    layers = []
    for n, (module, out) in enumerate(zip(network, outputs)):
        weight = getattr(module, "weight", None)
        name = f"{n} {type(module).__name__}"
        layers.append(LayerGradient(name, out.detach()[0].numpy(), out.grad[0].numpy(),
                                    None if weight is None else weight.grad.numpy().copy()))
    probabilities = torch.softmax(h.detach()[0], 0).numpy()
    return BackwardPass(label, float(loss.detach()), probabilities, np.asarray(image), layers,
                        network)


@dataclass
class PoolGradient:
    window: np.ndarray        # [H, W] input of the pooling
    upstream: np.ndarray      # [H/k, W/k] dL/d(pooled output)
    max_rule: np.ndarray      # upstream placed at each window's winner, zero elsewhere
    max_autograd: np.ndarray
    avg_rule: np.ndarray      # upstream / k^2 in every position of its window
    avg_autograd: np.ndarray
    max_error: float          # |rule - autograd| over both poolings


def busiest_window(feature_map: np.ndarray, size: int = 4) -> tuple[int, int]:
    """(row, col) of the size x size block (on the size grid) with the most spread-out
    values: the block where pooling's winners are clearest."""
    values = float64_tensor(feature_map)[None, None]
    spread = F.avg_pool2d(values ** 2, size) - F.avg_pool2d(values, size) ** 2
    index = int(spread.flatten().argmax())
    return divmod(index, spread.shape[-1])


def pool_gradients(window: np.ndarray, upstream: np.ndarray, kernel: int = 2) -> PoolGradient:
    """Backpropagate the same upstream gradient through max and average pooling of the same
    input: autograd against the rules (max: only the winner of each window; average:
    spread evenly over the k x k window)."""
    x = float64_tensor(window)[None, None].requires_grad_(True)
    g = float64_tensor(upstream)[None, None]
    (max_grad,) = torch.autograd.grad(F.max_pool2d(x, kernel), x, g)
    (avg_grad,) = torch.autograd.grad(F.avg_pool2d(x, kernel), x, g)
    _, winners = F.max_pool2d(x.detach(), kernel, return_indices=True)
    max_rule = torch.zeros_like(x).flatten().index_put_((winners.flatten(),), g.flatten())
    max_rule = max_rule.reshape(x.shape)
    avg_rule = g.repeat_interleave(kernel, 2).repeat_interleave(kernel, 3) / kernel ** 2
    height, width = avg_rule.shape[-2:]
    avg_rule = F.pad(avg_rule, (0, x.shape[-1] - width, 0, x.shape[-2] - height))
    error = max(float((max_rule - max_grad).abs().max()), float((avg_rule - avg_grad).abs().max()))
    return PoolGradient(np.asarray(window, dtype=np.float64), np.asarray(upstream, np.float64),
                        max_rule[0, 0].numpy(), max_grad[0, 0].numpy(), avg_rule[0, 0].numpy(),
                        avg_grad[0, 0].numpy(), error)


@dataclass
class ConvInputGradient:
    autograd: np.ndarray      # [C_in, H, W] dL/dx from autograd
    flipped: np.ndarray       # conv2d(dL/dy, flipped kernel with in/out swapped)
    max_error: float
    weight_autograd: np.ndarray   # [C_out, C_in, K, K] dL/dW from autograd
    weight_correlation: np.ndarray  # input correlated with dL/dy
    weight_error: float


def conv_input_gradient(x: torch.Tensor, weight: torch.Tensor, grad_output: torch.Tensor,
                        padding: int) -> ConvInputGradient:
    """For y = conv2d(x, W) (stride 1): dL/dx = conv2d(dL/dy, W rotated by 180 degrees with
    in/out channels swapped, padding K-1-P), and dL/dW = x (padded by P) correlated with
    dL/dy; both checked against autograd."""
    x = x.detach().double().requires_grad_(True)
    weight = weight.detach().double().requires_grad_(True)
    grad_output = grad_output.detach().double()
    y = F.conv2d(x, weight, padding=padding)
    grad_x, grad_w = torch.autograd.grad(y, (x, weight), grad_output)
    k = weight.shape[-1]
    flipped = F.conv2d(grad_output, weight.detach().flip(-1, -2).transpose(0, 1),
                       padding=k - 1 - padding)
    # dW[o, c] = sum over positions of x[c] * dy[o]: a correlation with the batch as channels
    by_correlation = F.conv2d(x.detach().transpose(0, 1), grad_output.transpose(0, 1),
                              padding=padding).transpose(0, 1)
    return ConvInputGradient(grad_x[0].numpy(), flipped[0].numpy(),
                             float((grad_x - flipped).abs().max()), grad_w.numpy(),
                             by_correlation.numpy(),
                             float((grad_w - by_correlation).abs().max()))


def network_conv_check(result: BackwardPass, conv_index: int) -> ConvInputGradient:
    """The flipped-kernel rule on a conv layer of the lesson's network, with the real input
    of that layer and the real gradient arriving at its output."""
    module = result.network[conv_index]
    previous = (torch.as_tensor(result.input_image, dtype=torch.float64)[None, None]
                if conv_index == 0 else
                torch.as_tensor(result.layers[conv_index - 1].output)[None])
    grad_output = torch.as_tensor(result.layers[conv_index].grad_output)[None]
    return conv_input_gradient(previous, module.weight, grad_output, module.padding[0])
