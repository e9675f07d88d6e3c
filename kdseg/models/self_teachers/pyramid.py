"""The input check shared by the self-teachers: a feature pyramid, fine (shallow) to coarse."""
from typing import Sequence

from torch import Tensor

__all__ = ['check_pyramid']


def check_pyramid(features: Sequence[Tensor], in_channels: Sequence[int], owner: str,
                  order: str) -> None:
    """Raise ``ValueError`` unless ``features`` are ``len(in_channels)`` tensors
    (B, in_channels[i], H_i, W_i) with one batch size and sizes that never grow from level to
    level. ``owner`` names the module and ``order`` the level order in words, for the messages."""
    levels = len(in_channels)
    expected = ', '.join(f'(B, {c}, H_{i}, W_{i})' for i, c in enumerate(in_channels))
    if isinstance(features, Tensor) or not isinstance(features, Sequence):
        raise ValueError(f'features must be a sequence of {levels} tensors {expected}, {order}; '
                         f'got {type(features).__name__}')
    if len(features) != levels:
        raise ValueError(f'{owner} was built for {levels} levels (in_channels={tuple(in_channels)}) '
                         f'but got {len(features)} features')
    for i, f in enumerate(features):
        if not isinstance(f, Tensor) or f.dim() != 4 or f.shape[1] != in_channels[i]:
            shape = tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__
            raise ValueError(f'level {i}: expected a (B, {in_channels[i]}, H, W) feature '
                             f'(in_channels[{i}]={in_channels[i]}), got {shape}')
        if i == 0:
            continue
        prev = features[i - 1]
        if f.shape[0] != prev.shape[0]:
            raise ValueError(f'level {i}: batch size {f.shape[0]} differs from level '
                             f'{i - 1}\'s {prev.shape[0]}')
        if f.shape[2] > prev.shape[2] or f.shape[3] > prev.shape[3]:
            raise ValueError(f'level {i}: size {tuple(f.shape[2:])} is larger than level '
                             f'{i - 1}\'s {tuple(prev.shape[2:])}; features go {order}, each level '
                             'no larger than the previous one')
