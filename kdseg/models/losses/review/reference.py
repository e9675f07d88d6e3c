"""The reference formulation of knowledge review: plain torch ops and autograd, one function per
equation, in the authors' structure (dvlab-research/ReviewKD: ``ABF``, ``hcl``).

Chen et al., "Distilling Knowledge via Knowledge Review", CVPR 2021 (arXiv 2104.09044), sec. 3.2
and 3.3. It runs the :class:`.abf.ABF` modules themselves (their convs and their ``nn.BatchNorm2d``
modules, so the same parameters and the same running-statistics updates as the fused path of
:mod:`.abf`): ``ReviewKDLoss(impl='reference')`` calls :func:`review_kd`, and so do the tests and
``tools/benchmark_losses.py`` (its "naive" row). It is the formulation to read; the fused path is
the same maths with a written-out backward (:mod:`.abf`, :mod:`.hcl`).

For student level i, S_i (B, C_s, H, W), teacher T_i (B, C_t, H, W), levels reviewed deepest
first::

    x       = BN₁(Conv1×1(S_i))                               (B, mid, H, W)
    y       = nearest(fused_{i+1}, H×W)                       (absent at the deepest level)
    a       = σ(Conv1×1([x, y]) + b)                          (B, 2, H, W), two sigmoids
    fused_i = x·a₀ + y·a₁                                     (fused = x at the deepest level)
    out_i   = BN₂(Conv3×3(fused_i, pad 1))                    (B, C_t, H, W)
    HCL(out, T) = (mse(out, T) + Σ_j w_j·mse(pool_kj(out), pool_kj(T))) / (1 + Σ_j w_j)
    loss    = λ · Σ_i HCL(out_i, T_i)

pool_k is ``F.adaptive_avg_pool2d`` to k×k for k = 4, 2, 1 in that order, a size skipped when
k ≥ H, and the j-th size used weighs w_j = 2^−j (1/2, 1/4, 1/8 when all three are used).
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ['upsample', 'gates', 'abf_forward', 'hcl', 'review_kd']

POOL_SIZES = (4, 2, 1)


def upsample(fused: Tensor, size: Tuple[int, int]) -> Tensor:
    """y: the deeper level's fused map (B, mid, h, w), nearest-resized to exactly ``size``."""
    return F.interpolate(fused, size=size, mode='nearest')


def gates(logits: Tensor) -> Tensor:
    """a (B, 2, H, W) from the gate conv's logits: two independent sigmoids, not a softmax."""
    return logits.sigmoid()


def abf_forward(abf: nn.Module, student: Tensor, upper: Optional[Tensor]
                ) -> Tuple[Tensor, Tensor]:
    """(fused (B, mid, H, W), out (B, C_t, H, W)) of one :class:`.abf.ABF` for the student level
    (B, C_s, H, W) and the deeper level's fused map (None at the deepest level)."""
    x = abf.bn1(abf.conv1(student))
    if upper is not None:
        y = upsample(upper, x.shape[-2:])
        a = gates(abf.gate(torch.cat([x, y], 1)))
        x = x * a[:, :1] + y * a[:, 1:]
    return x, abf.bn2(abf.conv2(x))


def hcl(out: Tensor, teacher: Tensor) -> Tensor:
    """HCL of one level, as the authors' ``hcl``: the full-map MSE plus the pooled MSEs, a size
    k ≥ H skipped (the height alone decides) and the j-th size used weighing 2^−j, divided by 1 +
    the weights used."""
    loss, weight, total = F.mse_loss(out, teacher), 1.0, 1.0
    for k in POOL_SIZES:
        if k >= out.shape[2]:
            continue
        weight /= 2
        loss = loss + weight * F.mse_loss(F.adaptive_avg_pool2d(out, k),
                                          F.adaptive_avg_pool2d(teacher, k))
        total += weight
    return loss / total


def review_kd(loss: nn.Module, student: Sequence[Tensor], teacher: Sequence[Tensor]) -> Tensor:
    """λ · Σ_i HCL(out_i, T_i) with the ABFs (``loss.abfs``) and λ (``loss.loss_weight``) of a
    :class:`~.loss.ReviewKDLoss`, for the per-level features shallow to deep (a sum over levels,
    not a mean). Training or eval as the ABFs' BatchNorm modules are; the teacher is detached."""
    total, upper = 0.0, None
    for i in reversed(range(len(student))):
        upper, out = abf_forward(loss.abfs[i], student[i], upper)
        total = total + hcl(out, teacher[i].detach())
    return loss.loss_weight * total
