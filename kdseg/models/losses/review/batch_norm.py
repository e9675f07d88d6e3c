"""BatchNorm2d inside :class:`.abf.ABFFunction`: torch's native kernels, and the recomputation.

The ABF keeps its BatchNorms as ``nn.BatchNorm2d`` modules (parameters, running statistics, state
dict keys); the autograd node applies them with ``torch.ops.aten.native_batch_norm`` and
``native_batch_norm_backward`` (through :func:`.aten.call`), the kernels ``nn.BatchNorm2d`` runs,
so that it decides what is kept for the backward pass: the BatchNorm input x alone (B, C, H, W),
from which the output is recomputed with the saved statistics when needed.

``y = γ·(x − μ)·r + β``, r = 1/√(σ² + eps); in training μ, σ² are the batch's over (B, H, W) and
the running statistics are updated as ``nn.BatchNorm2d`` does (momentum, or a cumulative average
when momentum is None); in eval the running statistics are used.
"""
from typing import Tuple

import torch
from torch import Tensor, nn

from .aten import call

__all__ = ['bn_forward', 'bn_apply', 'bn_backward']

Stats = Tuple[Tensor, Tensor]  # per-channel μ and r = 1/√(σ² + eps), shape (C,)


def bn_forward(x: Tensor, bn: nn.BatchNorm2d, weight: Tensor, bias: Tensor,
               training: bool) -> Tuple[Tensor, Stats]:
    """(y, (μ, r)) for x (B, C, H, W); in training, updates ``bn``'s running statistics."""
    momentum = 0.0
    if training:
        bn.num_batches_tracked.add_(1)
        # momentum None (a cumulative average) reads the count on the host, a device sync on a
        # GPU, as nn.BatchNorm2d's own float(num_batches_tracked) does; the default 0.1 does not
        momentum = bn.momentum if bn.momentum is not None else 1 / bn.num_batches_tracked.item()
    y, mean, invstd = call('native_batch_norm', x, weight, bias, bn.running_mean, bn.running_var,
                           training, momentum, bn.eps)
    if not training:
        mean, invstd = bn.running_mean, torch.rsqrt(bn.running_var + bn.eps)
    return y, (mean.to(x.dtype), invstd.to(x.dtype))


def bn_apply(x: Tensor, stats: Stats, weight: Tensor, bias: Tensor) -> Tensor:
    """``γ·(x − μ)·r + β`` for x (B, C, H, W) with given statistics, as a new tensor."""
    mean, invstd = stats
    scale = weight * invstd
    return torch.addcmul((bias - mean * scale)[:, None, None], x, scale[:, None, None])


def bn_backward(grad: Tensor, x: Tensor, bn: nn.BatchNorm2d, stats: Stats, weight: Tensor,
                training: bool) -> Tuple[Tensor, Tensor, Tensor]:
    """(∂L/∂x (a new map), ∂L/∂γ, ∂L/∂β) from ``grad`` = ∂L/∂y (B, C, H, W)."""
    return call('native_batch_norm_backward', grad, x, weight, bn.running_mean, bn.running_var,
                stats[0], stats[1], training, bn.eps, [True, True, True])
