"""Soft-label KD from the self-teacher's predictions (FRSKD, METHODS.md 4)."""
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ....registry import register

__all__ = ['SoftLabelKDLoss']


@register('frskd')
class SoftLabelKDLoss(nn.Module):
    """Soft-label distillation at temperature τ, per position::

        L_KD = α · τ² · (1 / N) · Σ_n Σ_c p_t,nc · (log p_t,nc − log p_s,nc),
        p_s = softmax(s / τ), p_t = softmax(t / τ) over the class axis (dim 1)

    N is the number of positions: B·H·W for dense logits (B, C, H, W), the number of RoIs for
    (N, C) RoI logits. This is the authors' ``DistillKL`` (``kl_div(..., reduction='sum') · τ² /
    (B·H·W)``), which their VOC segmentation setting applies to the full-resolution logits with
    τ = 1 and α = 1. The self-teacher's logits t are detached: the loss moves the student only.
    Computed in float32 or wider (the logits' dtype if wider), so half-precision logits do not
    lose the small probabilities.

    Args:
        temperature: τ > 0.
        loss_weight: α.

    Forward: ``student`` and ``self_teacher`` logits of the same shape (N, C) or (B, C, H, W).
    Returns a scalar: 0 (connected to ``student``) when there are no positions (N = 0 RoIs).
    """

    def __init__(self, temperature: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
                or not 0 < temperature < math.inf:
            raise ValueError(f'temperature must be a positive finite number, got {temperature!r}')
        self.temperature = float(temperature)
        self.loss_weight = loss_weight

    def forward(self, student: Tensor, self_teacher: Tensor) -> Tensor:
        if student.shape != self_teacher.shape or student.dim() < 2:
            raise ValueError(f'SoftLabelKDLoss: student logits {tuple(student.shape)} and '
                             f'self-teacher logits {tuple(self_teacher.shape)} must have the same '
                             'shape, (N, C) or (B, C, H, W)')
        tau = self.temperature
        positions = student.numel() // student.shape[1]
        if positions == 0:  # no RoI sampled: nothing to distil (0/0 would be NaN)
            return student.sum() * 0.0
        dtype = torch.promote_types(student.dtype, torch.float32)
        log_p_s = F.log_softmax(student.to(dtype) / tau, dim=1)
        # probabilities, not log-probabilities, as the target: a class the self-teacher rules
        # out (logit −inf, p_t = 0) then adds 0, where log_target=True would give 0·(−inf) = NaN
        p_t = F.softmax(self_teacher.detach().to(dtype) / tau, dim=1)
        kl = F.kl_div(log_p_s, p_t, reduction='sum')
        return self.loss_weight * kl * (tau * tau) / positions
