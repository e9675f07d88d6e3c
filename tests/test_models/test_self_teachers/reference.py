"""FRSKD's BiFPNc written out from METHODS.md section 4 and the reference code, independently.

Plain functional torch in the reference's order of operations (MingiJi/FRSKD,
``BiFPN_layer.forward`` with ``first_time=True``, ``preact=False``), reading only the parameters and buffers of a
:class:`~kdseg.models.self_teachers.BiFPNSelfTeacher`: the 1×1 convolutions are einsums, the
depthwise 3×3 convolution is a sum of nine shifted maps, BatchNorm is written out (batch statistics
in training mode, running statistics in eval mode), ReLU is ``where(x > 0, x, 0)``, and every ReLU
the reference writes is kept, redundant or not. The resampling is passed in, so the same formulation
checks the reference setting (upsampling by repetition, the zero-padded "same" max pool) and kdseg's
generalisations.
"""
import math
from typing import Callable, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

BN_EPS = 1e-5  # nn.BatchNorm2d's default, which the reference keeps
FUSION_EPS = 1e-6  # the reference's BiFPN_layer.epsilon

Resample = Callable[[Tensor, Tuple[int, int]], Tensor]


def relu(x: Tensor) -> Tensor:
    return torch.where(x > 0, x, torch.zeros_like(x))


def conv1x1(x: Tensor, weight: Tensor) -> Tensor:
    return torch.einsum('oc,bchw->bohw', weight[:, :, 0, 0], x)


def depthwise3x3(x: Tensor, weight: Tensor) -> Tensor:
    """Per-channel 3×3 cross-correlation with zero padding 1; weight (C, 1, 3, 3)."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1))
    out = torch.zeros_like(x)
    for dy in range(3):
        for dx in range(3):
            tap = weight[:, 0, dy, dx][None, :, None, None]
            out = out + tap * padded[:, :, dy:dy + h, dx:dx + w]
    return out


def batch_norm(x: Tensor, bn: torch.nn.BatchNorm2d, training: bool) -> Tensor:
    if training:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = ((x - mean)**2).mean(dim=(0, 2, 3), keepdim=True)  # biased, as BN normalises
    else:
        mean = bn.running_mean[None, :, None, None]
        var = bn.running_var[None, :, None, None]
    return (x - mean) / torch.sqrt(var + BN_EPS) * bn.weight[None, :, None, None] \
        + bn.bias[None, :, None, None]


def pw(x: Tensor, block, training: bool) -> Tensor:
    """Conv1×1 (no bias) → BN → ReLU."""
    return relu(batch_norm(conv1x1(x, block.conv.weight), block.bn, training))


def sep(x: Tensor, stack, training: bool) -> Tensor:
    """[DWConv3×3 → Conv1×1 → BN], then [ReLU → DWConv3×3 → Conv1×1 → BN] per further unit."""
    for k, unit in enumerate(stack.units):
        if k > 0:
            x = relu(x)
        x = conv1x1(depthwise3x3(x, unit.depthwise.weight), unit.pointwise.weight)
        x = batch_norm(x, unit.bn, training)
    return x


def fuse(theta: Tensor, inputs: Sequence[Tensor]) -> Tensor:
    w = relu(theta)
    w = w / (torch.sum(w, dim=0) + FUSION_EPS)
    out = w[0] * inputs[0]
    for k in range(1, len(inputs)):
        out = out + w[k] * inputs[k]
    return out


def upsample_by_two(x: Tensor, size: Tuple[int, int]) -> Tensor:
    """The reference's Upsample(scale_factor=2, mode='nearest'): each pixel repeated 2×2."""
    assert tuple(size) == (2 * x.shape[-2], 2 * x.shape[-1]), (tuple(x.shape), size)
    return x.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)


def upsample_nearest(x: Tensor, size: Tuple[int, int]) -> Tensor:
    """Nearest resampling to any size: output index j reads input index ⌊j·n_in/n_out⌋."""
    rows = torch.div(torch.arange(size[0]) * x.shape[-2], size[0], rounding_mode='floor')
    cols = torch.div(torch.arange(size[1]) * x.shape[-1], size[1], rounding_mode='floor')
    return x[..., rows.to(x.device), :][..., cols.to(x.device)]


def same_maxpool(x: Tensor, size: Tuple[int, int]) -> Tensor:
    """The reference's MaxPool2dStaticSamePadding(3, 2): zero padding, then a 3×3 stride-2 pool."""
    h, w = x.shape[-2:]
    extra_w = (math.ceil(w / 2) - 1) * 2 - w + 3
    extra_h = (math.ceil(h / 2) - 1) * 2 - h + 3
    x = F.pad(x, [extra_w // 2, extra_w - extra_w // 2, extra_h // 2, extra_h - extra_h // 2])
    out = F.max_pool2d(x, 3, 2)
    assert tuple(out.shape[-2:]) == tuple(size), (tuple(out.shape), size)
    return out


def identity_when_equal(resample: Resample) -> Resample:
    """``resample`` with the resampling removed between levels of equal size."""

    def wrapped(x: Tensor, size: Tuple[int, int]) -> Tensor:
        return x if tuple(x.shape[-2:]) == tuple(size) else resample(x, size)

    return wrapped


def bifpnc(teacher, features: Sequence[Tensor], training: bool,
           up: Resample = upsample_by_two, down: Resample = same_maxpool) -> List[Tensor]:
    """The outputs ReLU(T_i) of one BiFPNc layer (first_time=True), shallow to deep."""
    levels = len(features)
    sizes = [tuple(f.shape[-2:]) for f in features]
    input_trans = [pw(relu(features[i]), teacher.lateral_bu[i - 1], training)
                   for i in range(1, levels)]
    inputs = [pw(relu(features[i]), teacher.lateral_td[i], training) for i in range(levels)]

    p = [None] * levels
    p[-1] = inputs[-1]  # the top of the top-down path is the lateral itself
    for i in range(levels - 2, -1, -1):
        deeper = pw(up(relu(p[i + 1]), sizes[i]), teacher.up_pw[i], training)
        p[i] = sep(fuse(teacher.td_fusion[i].weight, [relu(inputs[i]), deeper]),
                   teacher.td_sep[i], training)

    t = [p[0]]
    for i in range(1, levels):
        shallower = pw(down(relu(t[-1]), sizes[i]), teacher.down_pw[i - 1], training)
        if i < levels - 1:
            fused = [relu(input_trans[i - 1]), relu(p[i]), shallower]
        else:  # the top node: lateral' and the downsampled path only
            fused = [relu(input_trans[i - 1]), shallower]
        t.append(sep(fuse(teacher.bu_fusion[i - 1].weight, fused), teacher.bu_sep[i - 1], training))
    return [relu(x) for x in t]
