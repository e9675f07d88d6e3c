"""An independent float64 statement of FRSKD's two losses (Ji et al., CVPR 2021; the authors'
``segmentation/utils/distill.py``: ``Attention`` and ``DistillKL``), written from the design notes
without any of kdseg's helpers or ``F.normalize`` / ``F.log_softmax`` / ``F.kl_div``: explicit
loops over samples and levels, einsum for the channel sums, log-softmax by max-shifted
log-sum-exp. Differentiable, so that autograd on it gives reference gradients.
"""
from typing import Sequence

import torch
from torch import Tensor

NORM_EPS = 1e-12  # F.normalize's default: x / max(||x||_2, eps)


def attention_of_sample(feature: Tensor) -> Tensor:
    """feature (C, H, W) → (H·W,): the channel mean of F², divided by max(its L2 norm, 1e-12)."""
    channels = feature.shape[0]
    q = torch.einsum('chw,chw->hw', feature, feature).reshape(-1) / channels
    norm = torch.sqrt((q * q).sum())
    return q / torch.clamp(norm, min=NORM_EPS)


def attention_transfer(student: Sequence[Tensor], self_teacher: Sequence[Tensor],
                       loss_weight: float = 1.0) -> Tensor:
    """β · Σ_levels (1 / (B·H_i·W_i)) · Σ_b Σ_p (a(F_i)[b, p] − a(T_i)[b, p])², T detached."""
    total = 0
    for s, t in zip(student, self_teacher):
        batch, _, height, width = s.shape
        level = 0
        for b in range(batch):
            diff = attention_of_sample(s[b]) - attention_of_sample(t[b].detach())
            level = level + (diff * diff).sum()
        total = total + level / (batch * height * width)
    return loss_weight * total


def log_softmax_rows(x: Tensor) -> Tensor:
    """x (N, C) → log softmax over C, by max-shifted log-sum-exp."""
    m = x.max(dim=1, keepdim=True).values.detach()
    return x - m - torch.log(torch.exp(x - m).sum(dim=1, keepdim=True))


def as_rows(logits: Tensor) -> Tensor:
    """(N, C) or (B, C, H, W) → (positions, C)."""
    if logits.dim() == 2:
        return logits
    return torch.einsum('bchw->bhwc', logits).reshape(-1, logits.shape[1])


def soft_label_kd(student: Tensor, self_teacher: Tensor, temperature: float = 1.0,
                  loss_weight: float = 1.0) -> Tensor:
    """α · τ² · (1 / N) · Σ_n Σ_c p_t (log p_t − log p_s), p = softmax(· / τ) over the classes,
    N the number of positions (pixels or RoIs), the self-teacher detached."""
    s = as_rows(student) / temperature
    t = as_rows(self_teacher.detach()) / temperature
    log_p_s, log_p_t = log_softmax_rows(s), log_softmax_rows(t)
    p_t = torch.exp(log_p_t)
    positions = s.shape[0]
    kl = torch.einsum('nc,nc->', p_t, log_p_t - log_p_s)
    return loss_weight * temperature ** 2 * kl / positions
