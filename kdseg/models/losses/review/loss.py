"""Knowledge review (Chen et al., CVPR 2021, arXiv 2104.09044): ABF review path plus HCL."""
import warnings
from typing import Optional, Sequence, Union

import torch
from torch import Tensor, nn

from ....registry import register
from .abf import ABF, fused_path_error
from .reference import review_kd

__all__ = ['IMPLS', 'ReviewKDLoss', 'resolve_impl']

IMPLS = ('auto', 'fused', 'reference')


def resolve_impl(impl: str, device: Union[torch.device, str]) -> str:
    """The path ``impl`` takes for tensors on ``device``: 'fused' or 'reference'.

    'auto' takes the path measured faster there (docs/benchmarks.md, "CWT and ReviewKD against
    straightforward formulations", FPN P2-P6 of a 2×3×800×1216 batch, forward + backward): on the
    CPU the fused path, 0.70× the reference's time (4.46 s against 6.35 s, AMD EPYC, 2 threads);
    on CUDA the reference, the fused path being 1.66× slower there (25 ms against 15 ms on an
    NVIDIA H200: launch-bound, 2594 against 1445 aten calls per step). Any other device has no
    measurement and takes the reference, the plain autograd path every backend supports.
    """
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(map(repr, IMPLS))}, got {impl!r}")
    if impl != 'auto':
        return impl
    return 'fused' if torch.device(device).type == 'cpu' else 'reference'


def _channels(value: Sequence[int], name: str) -> list:
    try:
        channels = None if isinstance(value, (int, str)) else list(value)
    except TypeError:
        channels = None
    if channels is None:
        raise ValueError(f'{name} must be a sequence of positive ints, one per level shallow to '
                         f'deep, got {value!r} (for a single level write ({value!r},))')
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
        impl: which of the two computations of the same maths runs, as timm's fused-attention
            flag: ``'reference'`` (:mod:`.reference`: the ABF modules and ``F.mse_loss`` /
            ``F.adaptive_avg_pool2d`` under plain autograd), ``'fused'`` (:mod:`.abf`: one
            autograd node per level with a written-out backward that keeps three maps per level,
            0.56× the reference's memory; one backward per forward) or ``'auto'`` (default): per
            call, the fused path for CPU tensors and the reference path on CUDA and any other
            device, where each was measured faster (:func:`resolve_impl`; on CUDA that trades
            the fused path's memory saving for 0.6× the time: pass ``'fused'`` to keep the
            memory). Both paths use the same parameters and BatchNorm buffers, so ``impl`` may be
            changed on a built module (``loss.impl = 'reference'``) and gives the same values,
            gradients and running-statistics updates. The fused path calls private aten ops
            (:mod:`.aten`); where one is missing or rejects its call on the input's device and
            dtype (checked once on tiny tensors, before any state is touched) the module takes
            the reference path instead, with one warning naming the op, also when ``'fused'``
            was asked for explicitly.

    Forward: ``student`` and ``teacher`` are the per-level features, shallow to deep (a backbone's
    or a neck's output tuple), level i (B, C_s,i, H_i, W_i) and (B, C_t,i, H_i, W_i). Sizes may
    repeat (a dilated backbone's stages at stride 8: the upsampling is then the identity) or differ
    by any factor (the deeper map is upsampled by nearest neighbour to the exact size). The loss
    runs in the ABF parameters' dtype, with autocast off. Returns a scalar. In training each level
    needs more than one value per channel (B·H_i·W_i > 1) for its BatchNorms' batch statistics,
    as ``nn.BatchNorm2d``; an empty batch or map is refused.

    Padded detection batches: mmdet pads each batch to a common size, and the padded border is
    distilled like any other pixel, as in the authors' code: student and teacher both see zero
    padding there, so their features there are defined and the student learns the teacher's; the
    pooled HCL terms average over the whole padded map.
    """

    def __init__(self, student_channels: Sequence[int], teacher_channels: Sequence[int],
                 mid_channels: int = 256, loss_weight: float = 1.0, impl: str = 'auto') -> None:
        super().__init__()
        self.impl = impl
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
        self._fallback_warned: set = set()

    @property
    def impl(self) -> str:
        """'auto', 'fused' or 'reference' (see the class docstring); settable on a built module."""
        return self._impl

    @impl.setter
    def impl(self, value: str) -> None:
        resolve_impl(value, 'cpu')  # raises ValueError naming ``impl`` for anything else
        self._impl = value

    def path(self, device: Union[torch.device, str], dtype: torch.dtype) -> str:
        """The path a call with features on ``device`` in ``dtype`` (the ABFs') takes: 'fused'
        or 'reference'. :func:`resolve_impl`, then the fallback of the class docstring: where the
        fused path's ops fail on that device and dtype, 'reference' and one warning per module."""
        path = resolve_impl(self.impl, device)
        if path == 'fused':
            error = fused_path_error(torch.device(device), dtype)
            if error is not None:
                key = (str(device), dtype)
                if key not in self._fallback_warned:
                    self._fallback_warned.add(key)
                    warnings.warn(
                        f'ReviewKDLoss(impl={self.impl!r}): the fused path\'s op '
                        f'torch.ops.aten.{error.op} is unavailable on {device} in {dtype} '
                        f'({error.reason}); this module takes the reference path there instead',
                        RuntimeWarning, stacklevel=2)
                path = 'reference'
        return path

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
            batch, height, width = s.shape[0], *s.shape[-2:]
            if batch * height * width == 0:
                raise ValueError(f'ReviewKDLoss level {i}: student {tuple(s.shape)} is empty '
                                 f'(batch {batch}, map {height}×{width}): nothing to distil')
            if self.training and batch * height * width == 1:
                # nn.BatchNorm2d's own check, which torch's native kernel skips (it would write
                # NaN into running_var): the batch variance of one value is undefined
                raise ValueError(
                    f'ReviewKDLoss level {i} (student {height}×{width}, batch {batch}): BatchNorm '
                    'needs more than 1 value per channel in training (use a batch of 2 or more, '
                    'or eval mode, which uses the running statistics)')

    def forward(self, student: Sequence[Tensor], teacher: Sequence[Tensor]) -> Tensor:
        self._check(student, teacher)
        dtype, device = self.abfs[0].conv1.weight.dtype, student[0].device
        path = self.path(device, dtype)
        with torch.autocast(device.type, enabled=False):
            student = [s.to(dtype) for s in student]
            teacher = [t.to(dtype) for t in teacher]
            if path == 'reference':
                return review_kd(self, student, teacher)
            total: Optional[Tensor] = None
            upper = None
            for i in reversed(range(len(self.abfs))):
                loss, upper = self.abfs[i](student[i], upper, teacher[i])
                total = loss if total is None else total + loss
        return self.loss_weight * total
