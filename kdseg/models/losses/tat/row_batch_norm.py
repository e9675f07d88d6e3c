"""BatchNorm over channel-last rows with per-sample or per-batch statistics and a validity mask.

TaT's embeddings are ``Conv1×1 → BatchNorm2d``. kdseg computes the 1×1 convolutions as matrix
products on rows (``(B, N, C)``, pixels in the patch-group order of :mod:`.tiling`), and
normalises those rows here, in place, with:

* statistics per sample (``per_sample=True``: what the TaT-seg reference gets by calling the loss on
  one sample at a time) or over the batch (plain BatchNorm), in training mode; the running
  statistics in eval mode;
* a row validity mask: padding rows (tile padding, padded detection inputs) take no part in the
  statistics and come out as zeros.

Memory: like InPlace-ABN (Rota Bulò et al., CVPR 2018) the output overwrites the input and is the
only full-size tensor kept for backward; the normalised features are recovered there as
``x̂ = (y − β) / γ``. That recovery loses x̂ where γ is 0 and amplifies the rounding error of y by
|β|/|γ| where γ is small, so the channels with ``|β| > 16·|γ|`` (or a γ near underflow) keep their
x̂ in a separate (B, N, k) tensor instead (:func:`exact_channels`): no extra memory while every γ is
sizeable (γ starts at 1, β at 0), exact gradients for every γ, 0 included. (On CPU; elsewhere every
channel keeps its x̂, see :func:`exact_channels`.)

Shapes: ``x`` (B, N, C); ``valid`` (B, N, 1) float 0/1 or None (all valid); statistics (S, 1, C)
with S = B (per sample) or 1 (batch), broadcasting over the rows.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor, nn

__all__ = ['RowNormState', 'exact_channels', 'row_norm_forward_', 'row_norm_backward_',
           'update_running_stats_']


@dataclass
class RowNormState:
    """What :func:`row_norm_backward_` needs besides the output ``y``.

    Attributes:
        mean, rstd: (S, 1, C) statistics used, ``rstd = 1 / sqrt(var + eps)``.
        var: (S, 1, C) biased variance (for the running-statistics update).
        count: (S, 1, 1) number of valid rows behind each statistic.
        batch_stats: True if the statistics came from the rows (training), False if they are the
            running statistics (constants for autograd).
        exact: (k,) long, the channels whose x̂ cannot be recovered from y (see
            :func:`exact_channels`), or None when there are none.
        xhat: (B, N, k) x̂ of those channels (zeros at padding rows), or None.
    """

    mean: Tensor
    rstd: Tensor
    var: Tensor
    count: Tensor
    batch_stats: bool
    exact: Optional[Tensor] = None
    xhat: Optional[Tensor] = None


# Temporaries of the row reductions are kept to about this many elements (16 MiB in float32):
# a full-size temporary costs a fresh allocation, which on CPU means page faults on every call.
_CHUNK_ELEMENTS = 1 << 22


def _row_sum(x: Tensor, valid: Optional[Tensor]) -> Tensor:
    """Σ over valid rows: (B, N, C) → (B, 1, C)."""
    if valid is None:
        return x.sum(1, keepdim=True)
    return torch.bmm(valid.transpose(1, 2), x)  # weighted row sum without a (B, N, C) temporary


def _row_sum_of(fn: Callable[..., Tensor], *rows: Tensor, valid: Optional[Tensor]) -> Tensor:
    """Σ over valid rows of ``fn(*rows)`` (elementwise on (B, N, C) rows), in chunks of rows."""
    batch, n, channels = rows[0].shape
    step = max(1, _CHUNK_ELEMENTS // (batch * channels))
    total = None
    for start in range(0, n, step):
        part = _row_sum(fn(*(r[:, start:start + step] for r in rows)),
                        None if valid is None else valid[:, start:start + step])
        total = part if total is None else total.add_(part)
    return total


# x̂ = (y − β)/γ carries the rounding error of y (about eps·max(|γ·x̂|, |β|)) divided by |γ|: at
# |β| ≤ 16·|γ| that is at most about 32·eps absolute, comparable to the rounding of x̂ itself.
_MAX_BIAS_RATIO = 16.0


def exact_channels(weight: Tensor, bias: Tensor) -> Optional[Tensor]:
    """The channels whose x̂ is kept instead of recovered as (y − β)/γ, or None if there are none.

    Those with γ = 0 (x̂ is lost), ``|β| > 16·|γ|`` (the recovery's error is amplified by |β|/|γ|),
    or |γ| below √(smallest normal) of the dtype (γ·x̂ would lose precision to underflow). The
    count decides the buffer size, so it is read on the host: free on CPU; on any other device
    that read would synchronise the host with the device in every step, so there every channel
    keeps its x̂ (a (B, N, C) buffer per embedding: the fused path's memory saving is given up
    where ``impl='auto'`` takes the reference formulation anyway).
    """
    if weight.device.type != 'cpu':
        return torch.arange(weight.numel(), device=weight.device)
    magnitude = weight.detach().abs()
    recoverable = (magnitude * _MAX_BIAS_RATIO >= bias.detach().abs()) & (
        magnitude >= torch.finfo(weight.dtype).tiny ** 0.5)
    if bool(recoverable.all()):
        return None
    return torch.nonzero(~recoverable).flatten()


def _count(x: Tensor, valid: Optional[Tensor]) -> Tensor:
    if valid is None:
        return x.new_full((x.shape[0], 1, 1), x.shape[1])
    return valid.sum(1, keepdim=True)


def _stat_groups(t: Tensor, per_sample: bool) -> Tensor:
    """(B, ...) per-sample sums → (S, ...) sums per statistics group."""
    return t if per_sample else t.sum(0, keepdim=True)


def row_norm_forward_(x: Tensor, valid: Optional[Tensor], weight: Tensor, bias: Tensor,
                      eps: float, per_sample: bool,
                      running: Optional[Tuple[Tensor, Tensor]] = None) -> RowNormState:
    """Normalise ``x`` in place: ``x ← γ·(x − μ)·rstd + β`` at valid rows, 0 at padding rows.

    Args:
        x: (B, N, C) rows, overwritten with the output ``y``.
        valid: (B, N, 1) float 0/1 row mask, or None (all valid).
        weight, bias: (C,) BatchNorm affine γ, β.
        per_sample: statistics per sample (True) or over the batch (False).
        running: (running_mean, running_var) to normalise with instead of batch statistics.
    """
    if running is None:
        count = _stat_groups(_count(x, valid), per_sample)
        safe_count = count.clamp(min=1)
        mean = _stat_groups(_row_sum(x, valid), per_sample) / safe_count
        squares = _row_sum_of(lambda d: (d - mean).square_(), x, valid=valid)
        var = _stat_groups(squares, per_sample) / safe_count
    else:  # copies: the outputs must not alias the buffers that training mode updates
        mean, var = (s.to(x.dtype).view(1, 1, -1).clone() for s in running)
        count = x.new_ones(1, 1, 1)
    rstd = (var + eps).rsqrt()
    exact = exact_channels(weight, bias)
    xhat = None
    if exact is not None:  # before x is overwritten
        xhat = (x.index_select(-1, exact) - mean.index_select(-1, exact)).mul_(
            rstd.index_select(-1, exact))
        if valid is not None:
            xhat.mul_(valid)
    scale = weight * rstd
    torch.addcmul(bias - mean * scale, x, scale, out=x)
    if valid is not None:
        x.mul_(valid)
    return RowNormState(mean=mean, rstd=rstd, var=var, count=count, batch_stats=running is None,
                        exact=exact, xhat=xhat)


def row_norm_backward_(dy: Tensor, y: Tensor, valid: Optional[Tensor], weight: Tensor,
                       bias: Tensor, state: RowNormState, per_sample: bool,
                       dmean: Optional[Tensor] = None, drstd: Optional[Tensor] = None,
                       out: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """Gradients of :func:`row_norm_forward_`: ``(dx, dweight, dbias)``.

    ``dmean`` / ``drstd``: gradients reaching the statistics directly (the anchor term's).
    ``dx`` is written into ``out`` when given: ``dy`` or ``y`` themselves may be overwritten, when
    the caller owns them and needs them no longer.

    With n valid rows per statistics group and x̂ = (x − μ)·rstd (recovered as (y − β)/γ, or kept
    for the channels ``state.exact``): dβ = Σ dy, dγ = Σ dy·x̂, and
    dx = rstd·γ·dy + g_μ/n − g_rstd·rstd²·x̂/n, where g_μ = dmean − rstd·γ·Σdy and
    g_rstd = drstd + γ·Σ(dy·x̂)/rstd, the total gradients of μ, rstd.
    """
    exact = state.exact
    weight_, bias_ = weight, bias  # γ, β with the exact channels' made harmless for the recovery
    dy_exact = None
    if exact is not None:
        weight_, bias_ = weight.index_fill(0, exact, 1.0), bias.index_fill(0, exact, 0.0)
        dy_exact = dy.index_select(-1, exact)  # before dx may overwrite dy
    sum_dy = _row_sum(dy, valid)
    sum_dy_xhat = (_row_sum_of(torch.mul, dy, y, valid=valid) - bias_ * sum_dy) / weight_
    if exact is not None:
        sum_dy_xhat.index_copy_(-1, exact, _row_sum(dy_exact * state.xhat, valid))
    dbias = sum_dy.sum((0, 1))
    dweight = sum_dy_xhat.sum((0, 1))
    scale = state.rstd * weight
    if not state.batch_stats:
        dx = torch.mul(dy, scale, out=out)
    else:
        n = state.count.clamp(min=1)
        g_mean = -scale * _stat_groups(sum_dy, per_sample)
        if dmean is not None:
            g_mean = g_mean + dmean
        g_rstd = weight * _stat_groups(sum_dy_xhat, per_sample) / state.rstd
        if drstd is not None:
            g_rstd = g_rstd + drstd
        xhat_coef = -g_rstd * state.rstd.square() / n
        # with x̂ = (y − β)/γ: dx = scale·(dy + y_coef·y) + shift, two passes over the rows
        scale_ = state.rstd * weight_
        y_coef = xhat_coef / (weight_ * scale_)
        shift = g_mean / n - xhat_coef * bias_ / weight_
        dx = torch.addcmul(dy, y, y_coef, out=out)
        torch.addcmul(shift, dx, scale_, out=dx)
        if exact is not None:  # the same formula with the kept x̂
            def pick(t: Tensor) -> Tensor:
                return t.index_select(-1, exact)

            dx_exact = torch.addcmul(pick(g_mean) / n, pick(xhat_coef), state.xhat)
            dx.index_copy_(-1, exact, dx_exact.addcmul_(pick(scale), dy_exact))
    if valid is not None:
        dx.mul_(valid)
    return dx, dweight, dbias


def update_running_stats_(bn: nn.BatchNorm2d, state: RowNormState) -> None:
    """Update ``bn``'s running statistics as S sequential BatchNorm calls would.

    Each statistics group (each sample, or the whole batch) is one BatchNorm momentum step with its
    mean and unbiased variance, applied in order: after S steps the running mean is
    ``(1 − m)^S·r + Σ_s m·(1 − m)^(S−1−s)·μ_s``. Groups without valid rows are skipped.
    """
    count = state.count.flatten()
    step = bn.momentum * (count > 0).to(count.dtype)
    keep = 1 - step
    later_keep = torch.cat([keep.flip(0).cumprod(0).flip(0)[1:], keep.new_ones(1)])
    coef = step * later_keep
    unbiased = state.var.flatten(1) * (count / (count - 1).clamp(min=1)).unsqueeze(1)
    total_keep = keep.prod()
    with torch.no_grad():
        bn.running_mean.mul_(total_keep).add_(coef @ state.mean.flatten(1))
        bn.running_var.mul_(total_keep).add_(coef @ unbiased)
        bn.num_batches_tracked.add_((count > 0).sum())
