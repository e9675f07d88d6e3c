"""An independent float64 statement of DIST (Huang et al., NeurIPS 2022; the authors'
``segmentation/losses/dist_kd.py``), written from the equations without any of kdseg's helpers
or ``F.softmax`` / ``torch.linalg``: the dense map is unrolled into rows by an explicit loop over
(b, h, w), the softmax is a max-shifted exp over a sum, and each Pearson correlation is computed
one row or one class at a time with its covariance and standard deviations spelt out.
Differentiable, so that autograd on it gives reference gradients; meant for tiny tensors.
"""
import torch
from torch import Tensor

EPS = 1e-8  # the authors' cosine_similarity: <x, y> / (|x|·|y| + eps)


def rows_of(logits: Tensor) -> Tensor:
    """(N, C) as it is, or (B, C, H, W) → (B·H·W, C), one row per pixel, by a loop."""
    if logits.dim() == 2:
        return logits
    batch, _, height, width = logits.shape
    return torch.stack([logits[b, :, h, w] for b in range(batch) for h in range(height)
                        for w in range(width)])


def softmax_row(z: Tensor) -> Tensor:
    e = torch.exp(z - z.max().detach())
    return e / e.sum()


def pearson(u: Tensor, v: Tensor, eps: float = EPS) -> Tensor:
    """Cov(u, v) / (Std(u)·Std(v)), written as n·Cov / (sqrt(n·Var u)·sqrt(n·Var v) + eps) so
    that the eps sits where the authors' code puts it (the 1/n factors cancel otherwise)."""
    n = u.numel()
    du = u - u.sum() / n
    dv = v - v.sum() / n
    covariance_n = torch.dot(du, dv)
    return covariance_n / (torch.sqrt(torch.dot(du, du)) * torch.sqrt(torch.dot(dv, dv)) + eps)


def dist_terms(student: Tensor, teacher: Tensor, temperature: float = 1.0):
    """(L_inter, L_intra) without τ², the teacher detached."""
    s = rows_of(student)
    t = rows_of(teacher.detach())
    y_s = torch.stack([softmax_row(row / temperature) for row in s])
    y_t = torch.stack([softmax_row(row / temperature) for row in t])
    rows, classes = y_s.shape
    inter = 1 - sum(pearson(y_s[i], y_t[i]) for i in range(rows)) / rows
    intra = 1 - sum(pearson(y_s[:, j], y_t[:, j]) for j in range(classes)) / classes
    return inter, intra


def dist(student: Tensor, teacher: Tensor, beta: float = 1.0, gamma: float = 1.0,
         temperature: float = 1.0, loss_weight: float = 1.0) -> Tensor:
    """loss_weight · τ² · (β · L_inter + γ · L_intra)."""
    inter, intra = dist_terms(student, teacher, temperature)
    return loss_weight * temperature ** 2 * (beta * inter + gamma * intra)
