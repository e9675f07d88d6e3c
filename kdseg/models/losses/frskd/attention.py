"""Attention transfer between the student's levels and the self-teacher's (FRSKD, METHODS.md 4)."""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ....registry import register

__all__ = ['AttentionTransferLoss']


def attention_map(feature: Tensor) -> Tensor:
    """a(F) = normalise_HW(mean_C(F²)): (B, C, H, W) → (B, H·W), each row of unit L2 norm
    (``F.normalize``: divided by max(‖·‖₂, 1e-12), as the reference). Computed in float32 or
    wider: F² of a half-precision feature overflows above |F| ≈ 256."""
    feature = feature.to(torch.promote_types(feature.dtype, torch.float32))
    return F.normalize(feature.pow(2).mean(1).flatten(1), dim=1)


@register('frskd')
class AttentionTransferLoss(nn.Module):
    """FRSKD's feature distillation: the student's spatial attention follows the self-teacher's::

        L_AT = β · Σ_i mean_{B, H_i·W_i}((a(F_i) − a(T_i))²),    a(F) = normalise_HW(mean_C(F²))

    a sum over levels of a mean over the batch and the positions (the authors' ``Attention``).
    The channel counts of F_i and T_i may differ (the self-teacher refines level i at w·c_i
    channels): a(·) averages them away. T_i is detached: the loss moves the student only.

    Args:
        loss_weight: β (the reference's VOC segmentation setting: 50).

    Forward: ``student`` and ``self_teacher``, the per-level features shallow to deep, level i
    (B, c_i, H_i, W_i) and (B, d_i, H_i, W_i): same batch and spatial size, any channels.
    Returns a scalar.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, student: Sequence[Tensor], self_teacher: Sequence[Tensor]) -> Tensor:
        if len(student) != len(self_teacher) or not student:
            raise ValueError(f'AttentionTransferLoss: {len(student)} student levels and '
                             f'{len(self_teacher)} self-teacher levels; they must match (>= 1)')
        total = 0
        for i, (s, t) in enumerate(zip(student, self_teacher)):
            if (s.dim() != 4 or t.dim() != 4 or s.shape[0] != t.shape[0]
                    or s.shape[2:] != t.shape[2:]):
                raise ValueError(f'AttentionTransferLoss level {i}: student {tuple(s.shape)} and '
                                 f'self-teacher {tuple(t.shape)} must be (B, C, H, W) with the '
                                 'same B, H, W')
            total = total + (attention_map(s) - attention_map(t.detach())).pow(2).mean()
        return self.loss_weight * total
