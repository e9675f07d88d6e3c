"""Size-aware resampling between the levels of a feature pyramid, for the BiFPN self-teacher.

The reference BiFPNc (MingiJi/FRSKD, ``models/bifpnc.py``) assumes every level halves the previous
one: top-down it upsamples by ``nn.Upsample(scale_factor=2, mode='nearest')`` and bottom-up it
downsamples by a 3×3 stride-2 max pool with TensorFlow-style "same" padding
(``MaxPool2dStaticSamePadding(3, 2)``). kdseg also meets pyramids where several levels share a
size (a dilated PSPNet ResNet keeps stages 2-4 at stride 8) and sizes that are not powers of two,
so both directions resample to the target's exact size instead, and fall back to the reference's
operation whenever the reference's assumption holds:

* :func:`upsample_to` (top-down, deeper → shallower): identity when the sizes are equal,
  otherwise nearest interpolation to the exact target size. For a target of exactly twice the
  source, ``mode='nearest'`` with ``size`` reads source index ⌊dst/2⌋, the same element as
  ``scale_factor=2``, so it is the reference's upsampling.
* :func:`downsample_to` (bottom-up, shallower → deeper), per spatial dimension: target = source
  → no pooling in that dimension (kernel 1, stride 1); target = ⌈source/2⌉ → the reference's
  kernel 3, stride 2 "same" pooling (the output size of "same" padding is exactly ⌈n/2⌉). When
  both dimensions are covered the result is one max pool with those per-dimension kernels and
  strides (the identity when both sizes are equal, returned as is); any other ratio falls back to
  ``adaptive_max_pool2d`` to the exact target size.

* :func:`resize_to`: interpolation to the exact target size with a given mode, the identity
  when the sizes are equal; the resampling of the authors' segmentation ``BiFPNSeg``
  (``segmentation/utils/BiFPN.py``: bilinear top-down, nearest bottom-up), and
  :func:`upsample_to`'s interpolation.

All functions take (B, C, H, W) tensors and keep B and C.
"""
from typing import Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor

__all__ = ['upsample_to', 'downsample_to', 'resize_to', 'same_pool_padding']


def same_pool_padding(size: int, kernel: int = 3, stride: int = 2) -> Tuple[int, int]:
    """The (before, after) padding of TensorFlow's "same" pooling along one dimension.

    ``extra = (⌈size/stride⌉ − 1)·stride − size + kernel``, split with the smaller half before, as
    the reference's ``MaxPool2dStaticSamePadding`` does. For kernel 3, stride 2 that is (0, 1) on
    an even size and (1, 1) on an odd one; the pooled size is ⌈size/2⌉ either way.
    """
    extra = max((-(-size // stride) - 1) * stride - size + kernel, 0)
    return extra // 2, extra - extra // 2


def upsample_to(x: Tensor, size: Sequence[int]) -> Tensor:
    """Top-down resampling: (B, C, h, w) → (B, C, H, W) = ``size``.

    Returns ``x`` itself when (h, w) == (H, W), else nearest interpolation to (H, W) (the
    reference's ``Upsample(scale_factor=2, mode='nearest')`` when H = 2h and W = 2w).
    """
    return resize_to(x, size, 'nearest')


def resize_to(x: Tensor, size: Sequence[int], mode: str) -> Tensor:
    """(B, C, h, w) → (B, C, H, W) = ``size`` by ``F.interpolate(mode=mode)``; ``x`` itself when
    (h, w) == (H, W). ``'bilinear'`` uses ``align_corners=False`` (``nn.Upsample``'s and
    ``F.interpolate``'s default, which the authors' code keeps); ``'nearest'`` reads source
    index ⌊dst·h/H⌋ (every other element when H = h/2)."""
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    align = {'align_corners': False} if mode == 'bilinear' else {}
    return F.interpolate(x, size=size, mode=mode, **align)


def downsample_to(x: Tensor, size: Sequence[int]) -> Tensor:
    """Bottom-up resampling: (B, C, H, W) → (B, C, h, w) = ``size``, by max pooling.

    Per dimension: h = H → untouched; h = ⌈H/2⌉ → 3-wide, stride-2 "same" max pooling (the
    reference). Returns ``x`` itself when both sizes are equal; when some dimension is neither,
    ``adaptive_max_pool2d`` to (h, w).

    The padding is −∞, the neutral element of max. The reference pads with zeros
    (``F.pad``'s default); its input is always a ReLU output (≥ 0), where the two are the same
    maximum, and a zero element that ties with a zero pad gets no gradient through the preceding
    ReLU either way, so values and gradients agree.
    """
    target = (int(size[0]), int(size[1]))
    source = tuple(x.shape[-2:])
    if source == target:
        return x
    kernel, stride, padding = [], [], []
    for n, m in zip(source, target):
        if m == n:
            kernel.append(1)
            stride.append(1)
            padding.append((0, 0))
        elif m == -(-n // 2):
            kernel.append(3)
            stride.append(2)
            padding.append(same_pool_padding(n))
        else:
            return F.adaptive_max_pool2d(x, target)
    (top, bottom), (left, right) = padding
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), value=float('-inf'))
    return F.max_pool2d(x, kernel_size=kernel, stride=stride)
