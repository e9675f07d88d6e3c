"""An independent formulation of knowledge review, written from METHODS.md section 3 with plain
autograd: the authors' structure (conv + BatchNorm modules, interpolate, concatenation, a 1×1 gate
conv with sigmoid, ``F.mse_loss`` and ``F.adaptive_avg_pool2d`` per pooled size), sharing only the
parameters of a :class:`ReviewKDLoss`. The keyword switches inject the mistakes the tests must be
able to tell apart: bilinear upsampling, a mean over levels, a softmax gate, no HCL normalisation.
"""
from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor


def hcl(out: Tensor, teacher: Tensor, normalise: bool = True) -> Tensor:
    """HCL of one level: full-map MSE plus pooled MSEs; a size k ≥ H is skipped and the j-th size
    used weighs 2^-j; divided by 1 + the weights used."""
    loss, weight, total = F.mse_loss(out, teacher), 1.0, 1.0
    for k in (4, 2, 1):
        if k >= out.shape[2]:
            continue
        weight /= 2
        loss = loss + weight * F.mse_loss(F.adaptive_avg_pool2d(out, k),
                                          F.adaptive_avg_pool2d(teacher, k))
        total += weight
    return loss / total if normalise else loss


def review_kd(loss, student: List[Tensor], teacher: List[Tensor], upsample: str = 'nearest',
              gate: str = 'sigmoid', levels: str = 'sum', normalise: bool = True) -> Tensor:
    """λ·Σ_i HCL(ABF_i(...), T_i) with the parameters (and BatchNorm modules) of ``loss``."""
    outs, fused = [], None
    for i in reversed(range(len(student))):
        abf = loss.abfs[i]
        x = abf.bn1(F.conv2d(student[i], abf.conv1.weight))
        if fused is not None:
            y = F.interpolate(fused, size=x.shape[-2:], mode=upsample,
                              **({} if upsample == 'nearest' else {'align_corners': False}))
            logits = F.conv2d(torch.cat([x, y], 1), abf.gate.weight, abf.gate.bias)
            a = logits.sigmoid() if gate == 'sigmoid' else logits.softmax(1)
            x = x * a[:, :1] + y * a[:, 1:]
        fused = x
        outs.insert(0, abf.bn2(F.conv2d(x, abf.conv2.weight, padding=1)))
    per_level = [hcl(o, t.detach(), normalise) for o, t in zip(outs, teacher)]
    total = sum(per_level) if levels == 'sum' else sum(per_level) / len(per_level)
    return loss.loss_weight * total
