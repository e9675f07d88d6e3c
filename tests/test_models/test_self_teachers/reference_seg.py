"""The authors' segmentation self-teacher written out from their code, independently of kdseg.

MingiJi/FRSKD, ``segmentation/utils/BiFPN.py`` (``BiFPNSeg``) and ``segmentation/utils/
efficientdet.py`` (``BiFPN2 = Sequential(BiFPNSeg(outc), BiFPNSeg(outc, True))``), in their order
of operations and with their modules: every node ``Sequential(Conv2d(C, C, 1, groups=C), BN, ReLU)``
(the conv keeps its bias), the top-down resampling ``nn.Upsample(scale_factor=W_i / W_{i+1},
mode='bilinear')`` as they compute it (the width ratio, for both dimensions), the bottom-up one
``F.interpolate(x, size)`` at its default (nearest) mode, and the sums in their order. The one
generalisation is the number of levels (theirs: six, unrolled by hand), and the laterals of kdseg's
adaptation (``Sequential(Conv2d(c, d, 1, bias=False), BN, ReLU)``) where the widths differ.
:func:`load_from` copies a :class:`~kdseg.models.self_teachers.BiFPNSegSelfTeacher`'s weights in.
"""
from typing import List, Sequence

import torch.nn.functional as F
from torch import Tensor, nn


def node(channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel_size=1, stride=1, padding=0, groups=channels),
        nn.BatchNorm2d(num_features=channels), nn.ReLU())


class AuthorsBiFPNSeg(nn.Module):
    """``BiFPNSeg(num_channels, is_last)`` over ``num_levels`` levels (P2 … P7 when six)."""

    def __init__(self, num_channels: int, num_levels: int, is_last: bool = False) -> None:
        super().__init__()
        self.is_last = is_last
        self.conv_up = nn.ModuleList(node(num_channels) for _ in range(num_levels))  # conv{2..7}up
        if not is_last:
            self.conv_dw = nn.ModuleList(node(num_channels) for _ in range(num_levels - 1))

    def forward(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        n = len(inputs)
        up = [None] * n
        up[n - 1] = self.conv_up[n - 1](inputs[n - 1])
        for i in range(n - 2, -1, -1):
            scale = inputs[i].size(3) / up[i + 1].size(3)
            up[i] = self.conv_up[i](
                inputs[i] + nn.Upsample(scale_factor=scale, mode='bilinear')(up[i + 1]))
        if self.is_last:
            return up  # P2_out, P3_up, ..., P7_up
        out = [up[0]]
        for i in range(1, n):
            out.append(self.conv_dw[i - 1](
                inputs[i] + up[i] + F.interpolate(out[i - 1], up[i].size()[2:])))
        return out


class AuthorsSelfTeacher(nn.Module):
    """Laterals (kdseg's adaptation, None where c_i = d), then the authors' stacked layers."""

    def __init__(self, in_channels: Sequence[int], channels: int, num_layers: int) -> None:
        super().__init__()
        self.laterals = nn.ModuleList(
            None if c == channels else nn.Sequential(
                nn.Conv2d(c, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
            for c in in_channels)
        self.layers = nn.ModuleList(
            AuthorsBiFPNSeg(channels, len(in_channels), is_last=k == num_layers - 1)
            for k in range(num_layers))

    def forward(self, features: Sequence[Tensor]) -> List[Tensor]:
        x = [f if lat is None else lat(f) for lat, f in zip(self.laterals, features)]
        for layer in self.layers:
            x = layer(x)
        return list(x)


def _copy_block(dst: nn.Sequential, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    dst[0].weight.data.copy_(conv.weight)
    if conv.bias is not None:
        dst[0].bias.data.copy_(conv.bias)
    for name in ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'):
        getattr(dst[1], name).data.copy_(getattr(bn, name))
    dst[1].momentum = bn.momentum


def load_from(teacher) -> AuthorsSelfTeacher:
    """An :class:`AuthorsSelfTeacher` with ``teacher``'s weights, dtype, device and mode."""
    ref = AuthorsSelfTeacher(teacher.in_channels, teacher.channels, teacher.num_layers)
    ref.to(next(teacher.parameters()).device, next(teacher.parameters()).dtype)
    for dst, src in zip(ref.laterals, teacher.laterals):
        if dst is not None:
            _copy_block(dst, src.conv, src.bn)
    for dst, src in zip(ref.layers, teacher.layers):
        for d, s in zip(dst.conv_up, src.up):
            _copy_block(d, s.conv, s.bn)
        if not dst.is_last:
            for d, s in zip(dst.conv_dw, src.down):
                _copy_block(d, s.conv, s.bn)
    return ref.train(teacher.training)
