"""BatchNorm, dropout and residual blocks, each checked against the real torch module."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from playground.lessons.kernels import kernel_preset
from playground.lessons.samples import sample_digit
from playground.lessons.tensors import float64_tensor
from playground.model.blocks import ResidualBlock


FEATURE_KERNELS = ("Sobel x", "Sobel y", "box (mean)")


def digit_feature_batch(batch_size: int) -> torch.Tensor:
    """Real digits 0, 1, 2, ... through the three FEATURE_KERNELS: a float64
    [batch_size, 3, 26, 26] batch of feature maps with a different mean and spread per
    channel, which is what BatchNorm evens out."""
    digits = torch.tensor(np.stack([sample_digit(n % 10) for n in range(batch_size)]))
    kernels = torch.tensor(np.stack([kernel_preset(n) for n in FEATURE_KERNELS]))[:, None]
    return F.conv2d(digits[:, None], kernels)


@dataclass
class BatchNormCheck:
    mean: np.ndarray          # [C] over (N, H, W)
    var: np.ndarray           # [C] biased variance (what normalises)
    normalised: np.ndarray    # by hand
    module_output: np.ndarray  # nn.BatchNorm2d in train mode
    max_error: float
    params: int               # 2C: gamma and beta
    buffers: int              # running mean and var (not trained)


def batchnorm_check(batch: torch.Tensor, eps: float = 1e-5) -> BatchNormCheck:
    batch = batch.double()
    mean = batch.mean(dim=(0, 2, 3))
    var = batch.var(dim=(0, 2, 3), unbiased=False)
    by_hand = (batch - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + eps)
    layer = nn.BatchNorm2d(batch.shape[1], eps=eps).double().train()
    with torch.no_grad():
        out = layer(batch)
    return BatchNormCheck(mean.numpy(), var.numpy(), by_hand.numpy(), out.numpy(),
                          float((out - by_hand).abs().max()),
                          sum(p.numel() for p in layer.parameters()),
                          layer.running_mean.numel() + layer.running_var.numel())


@dataclass
class DropoutDemo:
    masks: np.ndarray         # [samples, H, W] 1 kept, 0 dropped (train mode)
    train_outputs: np.ndarray  # [samples, H, W]: kept values scaled by 1/(1-p)
    eval_output: np.ndarray   # eval mode: the input unchanged
    kept_fraction: float      # of the non-zero inputs, over all samples
    train_mean: float         # mean over the masks ≈ input mean (inverted dropout)
    input_mean: float


def dropout_demo(values: np.ndarray, p: float, samples: int = 4, seed: int = 0) -> DropoutDemo:
    x = float64_tensor(values)
    layer = nn.Dropout(p)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        layer.train()
        outs = torch.stack([layer(x) for _ in range(samples)])
    layer.eval()
    masks = (outs != 0) | (x == 0)[None]  # a zero input tells nothing: count it kept
    kept = float((outs != 0)[:, x != 0].double().mean()) if bool((x != 0).any()) else 1.0
    return DropoutDemo(masks.double().numpy(), outs.numpy(), layer(x).numpy(), kept,
                       float(outs.mean()), float(x.mean()))


@dataclass
class ResidualInfo:
    projection: bool            # a 1x1 conv + BN shortcut instead of the identity
    params: int
    shortcut_params: int
    out_shape: tuple[int, ...]
    zero_body_error: float      # |block(x) - relu(shortcut(x))| with the body's last BN at 0


def residual_info(in_channels: int, out_channels: int, stride: int, size: int = 16,
                  seed: int = 0) -> ResidualInfo:
    """A real residual block (the one the spec builds): identity shortcut when stride is 1
    and channels are unchanged, else a 1x1 projection (conv + BN). With the body's last
    BatchNorm scale at zero the block passes its input straight through (plus ReLU): a
    deep stack of such blocks can always do at least as well as a shallower one."""
    torch.manual_seed(seed)
    block = ResidualBlock(in_channels, out_channels, stride).eval()
    shortcut_params = sum(p.numel() for p in block.shortcut.parameters())
    x = torch.randn(1, in_channels, size, size)
    with torch.no_grad():
        block.body[-1].weight.zero_()
        block.body[-1].bias.zero_()
        out = block(x)
        error = float((out - F.relu(block.shortcut(x))).abs().max())
    return ResidualInfo(shortcut_params > 0, sum(p.numel() for p in block.parameters()),
                        shortcut_params, tuple(out.shape[1:]), error)
