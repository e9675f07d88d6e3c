"""Reductions of products of large maps, in channel chunks so that no full-size product exists.

``(a * b).sum(...)`` and ``torch.einsum`` both materialise a full (B, C, H, W) temporary (and
``sum(dtype=torch.float64)`` a float64 copy); on FPN P2 of a 2×800×1216 batch that is 119 MiB per
call. These loop over blocks of channels holding at most :data:`CHUNK` elements each (16 times as
many on a GPU, where each block's kernel launches cost more than its memory); the sums within a
block use torch's float32 cascade summation, and :func:`sum_squares` adds the blocks in float64.
"""
from typing import Iterator

import torch
from torch import Tensor

__all__ = ['CHUNK', 'channel_dot', 'pixel_dot', 'sum_squares']

CHUNK = 1 << 22  # elements per block: 16 MiB in float32


def _blocks(x: Tensor) -> Iterator[slice]:
    per_channel = x.numel() // x.shape[1]
    step = max(1, CHUNK * (1 if x.device.type == 'cpu' else 16) // max(per_channel, 1))
    for start in range(0, x.shape[1], step):
        yield slice(start, start + step)


def channel_dot(a: Tensor, b: Tensor) -> Tensor:
    """Σ over (B, H, W) of a·b: (C,) for a, b (B, C, H, W)."""
    return torch.cat([(a[:, s] * b[:, s]).sum((0, 2, 3)) for s in _blocks(a)])


def pixel_dot(a: Tensor, b: Tensor) -> Tensor:
    """Σ over C of a·b: (B, 1, H, W) for a, b (B, C, H, W)."""
    out = a.new_zeros(a.shape[0], 1, *a.shape[2:])
    for s in _blocks(a):
        out.add_((a[:, s] * b[:, s]).sum(1, keepdim=True))
    return out


def sum_squares(x: Tensor) -> Tensor:
    """Σ x² over all elements, as a float64 scalar."""
    total = x.new_zeros((), dtype=torch.float64)
    for s in _blocks(x):
        total += x[:, s].square().sum().double()
    return total
