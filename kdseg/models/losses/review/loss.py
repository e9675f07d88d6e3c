"""Knowledge review (Chen et al., CVPR 2021, arXiv 2104.09044): ABF review path plus HCL."""
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from ....registry import register
from .abf import ABF

__all__ = ['ReviewKDLoss']


def _channels(value: Sequence[int], name: str) -> list:
    channels = list(value)
    if not channels or not all(isinstance(c, int) and c > 0 for c in channels):
        raise ValueError(f'{name} must be a non-empty sequence of positive ints, got {value!r}')
    return channels


@register('review')
class ReviewKDLoss(nn.Module):
    """Knowledge review over L levels: ABF residual fusion of the student features, deepest first,
    and the hierarchical context loss against the teacher features (METHODS.md section 3)::

        fused_{L−1}, out_{L−1} = ABF_{L−1}(S_{L−1})
        fused_i, out_i = ABF_i(S_i, fused_{i+1})            for i = L−2 … 0
        loss = λ · Σ_i HCL(out_i, T_i)                       (a sum over levels, not a mean)

    The loss owns the ABFs (the student's side of the distillation: they are trained with the
    student and thrown away with the distiller); the teacher features are detached. See
    :mod:`.abf` for one level and :mod:`.hcl` for HCL.

    Args:
        student_channels: C_s of each level, shallow to deep (e.g. R18 stages (64, 128, 256, 512),
            FPN (256,) * 5).
        teacher_channels: C_t of each level, the same number of levels.
        mid_channels: the review path's width (the authors': 256 for FPN, 512 for R18/R34).
        loss_weight: λ.

    Forward: ``student`` and ``teacher`` are the per-level features, shallow to deep (a backbone's
    or a neck's output tuple), level i (B, C_s,i, H_i, W_i) and (B, C_t,i, H_i, W_i). Sizes may
    repeat (a dilated backbone's stages at stride 8: the upsampling is then the identity) or differ
    by any factor (the deeper map is upsampled by nearest neighbour to the exact size). The loss
    runs in the ABF parameters' dtype, with autocast off. Returns a scalar.

    Padded detection batches: mmdet pads each batch to a common size, and the padded border is
    distilled like any other pixel, as in the authors' code: student and teacher both see zero
    padding there, so their features there are defined and the student learns the teacher's; the
    pooled HCL terms average over the whole padded map.
    """

    def __init__(self, student_channels: Sequence[int], teacher_channels: Sequence[int],
                 mid_channels: int = 256, loss_weight: float = 1.0) -> None:
        super().__init__()
        student_channels = _channels(student_channels, 'student_channels')
        teacher_channels = _channels(teacher_channels, 'teacher_channels')
        if len(student_channels) != len(teacher_channels):
            raise ValueError(f'student_channels has {len(student_channels)} levels and '
                             f'teacher_channels {len(teacher_channels)}; they must match')
        if not isinstance(mid_channels, int) or mid_channels <= 0:
            raise ValueError(f'mid_channels must be a positive int, got {mid_channels!r}')
        levels = len(student_channels)
        self.abfs = nn.ModuleList(
            ABF(cs, mid_channels, ct, fuse=i < levels - 1)
            for i, (cs, ct) in enumerate(zip(student_channels, teacher_channels)))
        self.student_channels, self.teacher_channels = student_channels, teacher_channels
        self.loss_weight = loss_weight

    def _check(self, student: Sequence[Tensor], teacher: Sequence[Tensor]) -> None:
        if len(student) != len(self.abfs) or len(teacher) != len(self.abfs):
            raise ValueError(f'ReviewKDLoss was built for {len(self.abfs)} levels but got '
                             f'{len(student)} student and {len(teacher)} teacher features')
        for i, (s, t) in enumerate(zip(student, teacher)):
            expected = (self.student_channels[i], self.teacher_channels[i])
            if s.dim() != 4 or t.dim() != 4 or (s.shape[1], t.shape[1]) != expected:
                raise ValueError(
                    f'level {i}: expected student (B, {expected[0]}, H, W) and teacher '
                    f'(B, {expected[1]}, H, W), got {tuple(s.shape)} and {tuple(t.shape)} '
                    '(student_channels / teacher_channels list the levels shallow to deep)')
            if s.shape[0] != t.shape[0] or s.shape[-2:] != t.shape[-2:]:
                raise ValueError(f'level {i}: student {tuple(s.shape)} and teacher '
                                 f'{tuple(t.shape)} differ in batch or spatial size')

    def forward(self, student: Sequence[Tensor], teacher: Sequence[Tensor]) -> Tensor:
        self._check(student, teacher)
        dtype = self.abfs[0].conv1.weight.dtype
        with torch.autocast(student[0].device.type, enabled=False):
            total: Optional[Tensor] = None
            upper = None
            for i in reversed(range(len(self.abfs))):
                loss, upper = self.abfs[i](student[i].to(dtype), upper, teacher[i].to(dtype))
                total = loss if total is None else total + loss
        return self.loss_weight * total
