"""HCL, the hierarchical context loss of one level, on the difference map D = out − T.

Chen et al., "Distilling Knowledge via Knowledge Review", CVPR 2021 (arXiv 2104.09044), sec. 3.3
and the authors' ``hcl``. For one level with map D = out − T of shape (B, C, H, W)::

    HCL = (mean(D²) + Σ_j w_j·mean(pool_kj(D)²)) / (1 + Σ_j w_j)

pool_k is adaptive average pooling to k×k (pooling is linear, so pool(out) − pool(T) =
pool(D)); the sizes k = 4, 2, 1 are tried in that order, a size is skipped when k ≥ H (the
height alone decides), and the j-th size USED gets w_j = 2^−j. So with every size used the
weights are 1/2, 1/4, 1/8 and the divisor 1.875; at H = 3 the reference skips 4 and gives 2 and 1
the weights 1/2 and 1/4 (the authors' code halves its weight only after a size is used).

The three poolings are computed as one pair of matmuls, ``P_h · D · P_wᵀ`` with the pooling
matrices of all used sizes stacked (P_h: (Σk, H)): one read of D instead of three, and the
backward is ``P_hᵀ · G · P_w`` with G block-diagonal, one full-size map.
"""
import functools
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from .reductions import sum_squares

__all__ = ['pool_weights', 'pooling_matrix', 'hcl_pool', 'hcl_value', 'hcl_grad']

POOL_SIZES = (4, 2, 1)


def pool_weights(height: int) -> List[Tuple[int, float]]:
    """The (k, w) pairs HCL uses at map height ``height``, in the reference's order."""
    used, weight = [], 1.0
    for k in POOL_SIZES:
        if k >= height:
            continue
        weight /= 2
        used.append((k, weight))
    return used


def pooling_matrix(size: int, sizes: Sequence[int], like: Tensor) -> Tensor:
    """(Σ sizes, size): stacked adaptive average pooling matrices, one block per k in ``sizes``,
    in ``like``'s device and dtype.

    Row i of block k averages the input indices [⌊i·size/k⌋, ⌈(i+1)·size/k⌉), the windows of
    ``F.adaptive_avg_pool2d``. Cached per (size, sizes, device, dtype): a loss step asks for the
    same few matrices every time, so each is built once (on the device, from ``torch.arange``: no
    host-to-device copy even then) and the same tensor object is returned afterwards; callers
    must not modify it.
    """
    return _pooling_matrix(size, tuple(sizes), like.device, like.dtype)


@functools.lru_cache(maxsize=256)
def _pooling_matrix(size: int, sizes: Tuple[int, ...], device: torch.device,
                    dtype: torch.dtype) -> Tensor:
    # a constant: never recorded by autograd, and a normal tensor even if first asked for inside
    # torch.inference_mode (an inference tensor could not be used by a later training step)
    with torch.inference_mode(False), torch.no_grad():
        if not sizes:
            return torch.zeros(0, size, device=device, dtype=dtype)
        rows = [torch.arange(k, device=device) for k in sizes]
        start = torch.cat([(i * size) // k for i, k in zip(rows, sizes)])[:, None]
        end = torch.cat([-((-(i + 1) * size) // k) for i, k in zip(rows, sizes)])[:, None]
        index = torch.arange(size, device=device)
        return ((index >= start) & (index < end)).to(dtype) / (end - start).to(dtype)


def _blocks(sizes: List[int]) -> List[slice]:
    offsets = [0]
    for k in sizes:
        offsets.append(offsets[-1] + k)
    return [slice(a, b) for a, b in zip(offsets, offsets[1:])]


def hcl_pool(diff: Tensor, pool_h: Tensor, pool_w: Tensor) -> Tensor:
    """``P_h · D · P_wᵀ`` (B, C, Σk, Σk) for D (B, C, H, W): its diagonal blocks are the pooled
    maps pool_k(D) (B, C, k, k) of the used sizes."""
    return pool_h @ diff @ pool_w.T


def hcl_value(diff: Tensor, pooled: Tensor, weights: List[Tuple[int, float]]) -> Tensor:
    """HCL from D (B, C, H, W) and :func:`hcl_pool`'s output; the sums of squares are
    accumulated in float64 (the full map has B·C·H·W terms)."""
    total = sum_squares(diff) / diff.numel()
    for s, (_, w) in zip(_blocks([k for k, _ in weights]), weights):
        block = pooled[..., s, s]
        total = total + w * block.square().sum(dtype=torch.float64) / block.numel()
    return (total / (1 + sum(w for _, w in weights))).to(diff.dtype)


def hcl_grad(diff: Tensor, pooled: Tensor, weights: List[Tuple[int, float]],
             pool_h: Tensor, pool_w: Tensor, scale: Tensor) -> Tensor:
    """∂(scale·HCL)/∂D (B, C, H, W) as a new map, from D and :func:`hcl_pool`'s output;
    ``scale`` is the scalar gradient of the loss."""
    norm = scale / (1 + sum(w for _, w in weights))
    if not weights:
        return diff * (2 * norm / diff.numel())
    sizes = [k for k, _ in weights]
    grad_pooled = diff.new_zeros(*diff.shape[:2], sum(sizes), sum(sizes))
    for s, (_, w) in zip(_blocks(sizes), weights):
        block = pooled[..., s, s]
        grad_pooled[..., s, s] = block * (2 * w * norm / block.numel())
    grad = pool_h.T @ (grad_pooled @ pool_w)
    return grad.addcmul_(diff, 2 * norm / diff.numel())
