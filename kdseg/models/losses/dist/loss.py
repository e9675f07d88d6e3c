"""DIST: distillation of the inter- and intra-class relations of the predictions."""
import math
import numbers

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ....registry import register

__all__ = ['DenseDISTLoss']

# The authors' ``cosine_similarity(x, y, eps=1e-8)``: the eps is ADDED to the product of the two
# L2 norms of the mean-centred vectors (not clamped, not inside a square root), in every version
# of their code (classification, detection and segmentation ``dist_kd.py``).
PEARSON_EPS = 1e-8


def _pearson(a: Tensor, b: Tensor, dims: tuple) -> Tensor:
    """Pearson correlation of ``a`` and ``b`` along ``dims``, the authors' way: the cosine
    similarity of the mean-centred vectors, ⟨ã, b̃⟩ / (‖ã‖·‖b̃‖ + 1e-8). One value per index of
    the dimensions not reduced."""
    a = a - a.mean(dim=dims, keepdim=True)
    b = b - b.mean(dim=dims, keepdim=True)
    norms = torch.linalg.vector_norm(a, dim=dims) * torch.linalg.vector_norm(b, dim=dims)
    return (a * b).sum(dim=dims) / (norms + PEARSON_EPS)


def _check_weight(name: str, value: float, positive: bool = False) -> float:
    bound = 'positive' if positive else 'non-negative'
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f'DenseDISTLoss: {name} must be a {bound} finite number, got {value!r}')
    return float(value)


@register('dist')
class DenseDISTLoss(nn.Module):
    """DIST, from Huang, You, Wang, Qian, Xu, "Knowledge Distillation from A Stronger Teacher",
    NeurIPS 2022, `arXiv 2205.10536 <https://arxiv.org/abs/2205.10536>`_ (code: hunto/DIST_KD).

    The student matches the teacher's predictions up to a positive linear map, through Pearson
    correlations, per row (inter-class relation) and per class (intra-class relation)::

        Y_s = softmax(Z_s / τ), Y_t = softmax(Z_t / τ) over the classes          (R × C)
        ρ(u, v) = ⟨u − ū, v − v̄⟩ / (‖u − ū‖·‖v − v̄‖ + 1e-8)
        L_inter = τ² · (1 − (1/R) · Σ_i ρ(Y_s[i, :], Y_t[i, :]))     each row against its row
        L_intra = τ² · (1 − (1/C) · Σ_j ρ(Y_s[:, j], Y_t[:, j]))     each class over all R rows
        L = loss_weight · (β · L_inter + γ · L_intra)

    Rows. Logits (N, C) (classification, RoI class logits) have N rows. Dense logits
    (B, C, H, W) have R = B·H·W rows, one per pixel of the whole batch: the authors' segmentation
    form (``segmentation/losses/dist_kd.py`` reshapes them to (B·H·W, C)), so the intra-class
    correlation of class j runs over every pixel of every image of the batch, not image by
    image. The row order does not matter; here the reductions run over dim 1 (inter) and dims
    (0, 2, 3) (intra) of the map itself, which gives those numbers without copying it.

    Where the constants come from:

    * ρ with the eps 1e-8 added to the product of the norms: the authors' ``pearson_correlation``
      / ``cosine_similarity`` (every version of their ``dist_kd.py``).
    * 1 − mean ρ for both terms, and β, γ weighting them: the paper's L_inter, L_intra and its
      total loss α·L_cls + β·L_inter + γ·L_intra (α belongs to the task loss, outside this
      module) and the authors' ``inter_class_relation`` / ``intra_class_relation``.
    * τ and the τ² factor (Hinton's gradient-scale convention): the temperature-softened form
      as mmrazor's port (``mmrazor.models.losses.DenseDISTLoss``) and huawei-noah's VanillaKD
      ``DIST`` write it. The authors' ImageNet, COCO and Cityscapes code has no temperature,
      i.e. τ = 1 and τ² = 1, where every form agrees.
    * Cityscapes (the CIRKD protocol, ``segmentation/train_kd.py``): β = γ = 1, τ = 1, weight 1
      on the decode-head logits and 0.4 on the auxiliary-head logits, at the heads' output
      resolution (stride 8). COCO Faster R-CNN (hunto/MasKD ``dist_cascade_mask_rcnn_*``):
      β = γ = 1, weight 1 on the RoI class logits (N, 81).

    The teacher's logits are detached: the loss moves the student only. Computed in float32 or
    wider (the wider of the two logits' dtypes), so half-precision logits neither lose the small
    probabilities nor the 1e-8, which float16 cannot hold next to a norm product of order 1.

    Args:
        beta: β ≥ 0, the weight of the inter-class term. Default 1 (all the authors' settings).
        gamma: γ ≥ 0, the weight of the intra-class term. Default 1.
        temperature: τ > 0. Default 1 (the authors' segmentation and detection settings).
        loss_weight: ≥ 0, multiplies the whole loss. Default 1.

    Forward: ``student`` and ``teacher`` logits of the same shape, (N, C) or (B, C, H, W); the
    loss does not resize (resample the logits before, or record them at equal sizes). Returns a
    scalar: 0 (connected to ``student``) when there are no rows (N = 0 RoIs).
    """

    def __init__(self, beta: float = 1.0, gamma: float = 1.0, temperature: float = 1.0,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.beta = _check_weight('beta', beta)
        self.gamma = _check_weight('gamma', gamma)
        self.temperature = _check_weight('temperature', temperature, positive=True)
        self.loss_weight = _check_weight('loss_weight', loss_weight)

    def extra_repr(self) -> str:
        return (f'beta={self.beta}, gamma={self.gamma}, temperature={self.temperature}, '
                f'loss_weight={self.loss_weight}')

    def forward(self, student: Tensor, teacher: Tensor) -> Tensor:
        if student.shape != teacher.shape or student.dim() not in (2, 4) or student.shape[1] == 0:
            raise ValueError(f'DenseDISTLoss: student logits {tuple(student.shape)} and teacher logits '
                             f'{tuple(teacher.shape)} must have the same shape, (N, C) or '
                             '(B, C, H, W) with C ≥ 1; resize them before the loss')
        if not (student.is_floating_point() and teacher.is_floating_point()):
            raise ValueError(f'DenseDISTLoss: logits must be floating point, got student '
                             f'{student.dtype} and teacher {teacher.dtype}')
        dtype = torch.promote_types(torch.promote_types(student.dtype, teacher.dtype),
                                    torch.float32)
        if student.numel() == 0:  # no RoI sampled: nothing to distil (a mean over 0 rows is NaN)
            return student.sum().to(dtype) * 0.0
        tau = self.temperature
        y_s = F.softmax(student.to(dtype) / tau, dim=1)
        y_t = F.softmax(teacher.detach().to(dtype) / tau, dim=1)
        row_dims = (0, ) + tuple(range(2, student.dim()))  # every axis but the classes
        inter = 1.0 - _pearson(y_s, y_t, dims=(1, )).mean()
        intra = 1.0 - _pearson(y_s, y_t, dims=row_dims).mean()
        return self.loss_weight * (tau * tau) * (self.beta * inter + self.gamma * intra)
