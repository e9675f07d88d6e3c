"""TaT attention and its MSE (Lin et al., CVPR 2022, arXiv 2205.10793, eqs. 4-6).

For one group (or head) with queries Q, keys K, values V (N positions × D channels) and the raw
teacher feature T:  A = softmax_j(Q Kᵀ)  (no 1/√D scaling, no temperature),  O = A V,  and the loss
sums (O − T)² over the valid positions. Padding rows (invalid positions) are zeros in Q, K, V; a key
row is masked out of the softmax when it is padding in every patch of its head (a head without any
valid key attends uniformly, and all its positions are padding, so it contributes nothing).

:class:`_GroupedAttention` runs batched matmuls on one contiguous ``(P, p·C)`` matrix per group
(the row layout of :mod:`.tiling`), with a written-out backward. A group's columns may be split
further into heads (the ``plain`` mode's G heads over the channels, and the reference's heads that
straddle patches, see :class:`.loss.TaTLoss`); each head is then a copy. It is used by
:class:`EmbeddingNormAttention`, which fuses it with the embeddings' BatchNorm for the patch-group
and plain terms (only the BatchNorm outputs Q, K, V, the P × P maps and the masked residual are
kept), and by :class:`AttentionSSE` for the anchor term.

Everything runs in the dtype of its inputs, which :class:`.loss.TaTLoss` keeps at its parameters'
dtype (float32) under autocast: the logits are unscaled sums over p·C channels (hundreds to
thousands in the reference settings), which half precision cannot resolve. The written-out
backward passes disable autocast too, should ``backward()`` be called inside an autocast region
(PyTorch advises against it: built-in ops' backward would then run in the autocast dtype).
"""
import contextlib
import functools
import math
from dataclasses import dataclass
from typing import Callable, ContextManager, Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .row_batch_norm import (RowNormState, row_norm_backward_, row_norm_forward_,
                             update_running_stats_)

__all__ = ['NormSpec', 'EmbeddingNormAttention', 'AttentionSSE', 'key_mask', 'no_autocast',
           'sum_of_squares']


def key_mask(valid: Tensor, heads: int = 1, channels: int = 1) -> Tensor:
    """(S, P, p) row validity → (S·heads, P) bool key validity of each group's heads.

    A group's p patches stacked along channels (channel = patch·C + c) are split into ``heads``
    heads of p·C/heads channels; a key position is valid for a head if it is valid in one of the
    patches the head's channels come from. A head without a valid key gets all keys (it attends
    uniformly; its rows are all padding).
    """
    present = valid > 0
    if heads == 1:
        keys = present.any(-1)
    else:
        patches = present.shape[-1]
        width = patches * channels // heads
        head = torch.arange(heads, device=valid.device)
        first, last = head * width // channels, ((head + 1) * width - 1) // channels
        counts = F.pad(present.to(torch.int32).cumsum(-1), (1, 0))  # valid patches before j
        keys = (counts[..., last + 1] - counts[..., first]) > 0  # (S, P, heads)
        keys = keys.transpose(1, 2).reshape(-1, keys.shape[1])
    return keys | ~keys.any(-1, keepdim=True)


def no_autocast(device_type: str) -> ContextManager:
    """Autocast disabled on ``device_type`` (nothing to disable where autocast does not exist,
    e.g. the meta device)."""
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def _without_autocast(backward: Callable) -> Callable:
    """Run an autograd Function's backward with autocast disabled (as its forward ran)."""
    @functools.wraps(backward)
    def wrapper(ctx, *grads: Optional[Tensor]):
        device = next((g.device.type for g in grads if g is not None), 'cpu')
        with no_autocast(device):
            return backward(ctx, *grads)
    return wrapper


def sum_of_squares(rows: Tensor) -> Tensor:
    """Σ x² per sample of (B, N, C) rows, accurate to float64 rounding of float32 row sums.

    One float32 dot product over a sample's N·C terms (millions) was 1.7e-4 off in relative terms
    at the TaT-seg VOC size and 1.3e-3 at 2×2048×64×128; dot products over each row's C channels,
    summed over the rows in float64, are within about 1e-8, at the same speed (a batched matmul
    of 1×C by C×1, no temporary of the rows' size).
    """
    batch, n, channels = rows.shape
    flat = rows.reshape(batch * n, 1, channels)
    per_row = torch.bmm(flat, flat.transpose(1, 2)).view(batch, n)
    return per_row.sum(1, dtype=torch.float64).to(rows.dtype)


@dataclass(frozen=True)
class NormSpec:
    """Static settings of :class:`EmbeddingNormAttention`.

    Attributes:
        norms: the BatchNorm2d of the query, key and value embeddings (eps, momentum, buffers).
        per_sample: per-sample statistics (the reference) or batch statistics.
        groups: the patch-group layout ``(num_groups, P, p)`` of the rows, for the fused attention.
        heads: the heads each group's p·C channels are split into (1: the group is one head).
    """

    norms: Tuple[nn.BatchNorm2d, nn.BatchNorm2d, nn.BatchNorm2d]
    per_sample: bool
    groups: Tuple[int, int, int]
    heads: int = 1


class _GroupedAttention:
    """Forward and backward of the grouped attention on (B, G·P·p, C) rows, without autograd.

    Attention weights below eps² of the dtype (1.4e-14 for float32) are flushed to zero: their
    logits, after the row maximum is subtracted, are set to −inf. Together they change an output by
    far less than its rounding error, and without the flush peaked attention maps (the reference's
    logits sum over p·C channels without 1/√D scaling) fill the maps and the softmax gradients with
    denormal floats, which make matmuls on Intel CPUs about ten times slower (measured on a Xeon,
    Sapphire Rapids; an AMD EPYC showed no such penalty). The dtype is the loss's own (its
    parameters'), never an autocast dtype, so autocast does not move the cut-off.
    """

    def __init__(self, groups: Tuple[int, int, int], batch: int, channels: int,
                 heads: int = 1) -> None:
        self.num_groups, self.positions, self.patches = groups
        self.batch = batch
        self.channels = channels
        self.heads = heads
        self.width = self.patches * channels // heads
        self.saved: Optional[Tuple[Tensor, Tensor]] = None

    def matrices(self, rows: Tensor) -> Tensor:
        """(B, G·P·p, C) → (B·G·h, P, p·C/h): one contiguous matrix per group and head (a view
        with one head, a copy with several)."""
        groups = rows.view(self.batch * self.num_groups, self.positions, -1)
        if self.heads == 1:
            return groups
        return groups.view(-1, self.positions, self.heads, self.width).transpose(1, 2).reshape(
            -1, self.positions, self.width)

    def rows(self, matrices: Tensor) -> Tensor:
        """The inverse of :meth:`matrices`."""
        if self.heads > 1:
            matrices = matrices.view(-1, self.heads, self.positions, self.width).transpose(1, 2)
        return matrices.reshape(self.batch, -1, self.channels)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, target: Tensor,
                valid: Optional[Tensor]) -> Tensor:
        """Per-sample SSE (B,); keeps the attention maps and the masked residual for backward."""
        logits = torch.bmm(self.matrices(q), self.matrices(k).transpose(1, 2))
        if valid is not None:
            keys = key_mask(valid.reshape(-1, self.positions, self.patches), self.heads,
                            self.channels)
            logits.masked_fill_(~keys[:, None, :], float('-inf'))
        logits.sub_(logits.amax(-1, keepdim=True))
        # the softmax in place (one P × P map per group alive, not two), with the cut-off
        F.threshold(logits, 2 * math.log(torch.finfo(logits.dtype).eps), -math.inf,
                    inplace=True)
        attn = logits.exp_()
        attn.div_(attn.sum(-1, keepdim=True))
        diff = self.rows(torch.bmm(attn, self.matrices(v))).sub_(target)
        if valid is not None:
            diff.mul_(valid)
        self.saved = attn, diff
        return sum_of_squares(diff)

    def backward(self, dsse: Tensor, q: Tensor, k: Tensor, v: Tensor
                 ) -> Iterator[Tuple[int, Tensor]]:
        """Yields ``(i, grad)`` for v (i = 2), then q (0) and k (1), as rows, each as soon as it is
        final; the consumer may then overwrite that input. Consumes what forward kept."""
        if self.saved is None:
            raise RuntimeError('TaTLoss: backward through the same graph twice is not supported '
                               '(its attention frees its buffers in the first backward)')
        attn, diff = self.saved
        self.saved = None
        d_out = self.matrices(diff.mul_(2 * dsse.view(-1, 1, 1)))
        dv = torch.bmm(attn.transpose(1, 2), d_out)
        d_attn = torch.bmm(d_out, self.matrices(v).transpose(1, 2))
        del d_out, diff
        yield 2, self.rows(dv)
        del dv
        # softmax backward: Σ_j dA_ij·A_ij as one dot product per row (no third map)
        row_dot = torch.bmm(d_attn.view(-1, 1, self.positions), attn.view(-1, self.positions, 1))
        d_logits = d_attn.sub_(row_dot.view(attn.shape[0], -1, 1)).mul_(attn)
        dq = torch.bmm(d_logits, self.matrices(k))
        dk = torch.bmm(d_logits.transpose(1, 2), self.matrices(q))
        yield 0, self.rows(dq)
        yield 1, self.rows(dk)


class AttentionSSE(torch.autograd.Function):
    """Autograd form of the single-group attention SSE, for the anchor term.

    ``apply(q, k, v, target, valid)`` with (B, N, C) rows (q, k, v zero at invalid rows) and a
    (B, N, 1) float mask or None → (B,) sums of squared errors over the valid rows.
    """

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, target: Tensor,
                valid: Optional[Tensor]) -> Tensor:
        batch, positions, channels = q.shape
        ctx.attention = _GroupedAttention((1, positions, 1), batch, channels)
        ctx.save_for_backward(q, k, v)
        return ctx.attention.forward(q, k, v, target, valid)

    @staticmethod
    @_without_autocast
    def backward(ctx, dsse: Tensor) -> Tuple[Optional[Tensor], ...]:
        grads: List[Optional[Tensor]] = [None] * 5
        for i, grad in ctx.attention.backward(dsse, *ctx.saved_tensors):
            grads[i] = grad
        return tuple(grads)


class EmbeddingNormAttention(torch.autograd.Function):
    """BatchNorm of the query / key / value embeddings, optionally fused with the patch attention.

    ``apply(spec, valid, scored, target, *embeddings)`` where ``embeddings`` holds, for the query,
    key and value in turn, ``(x, weight, bias)``: the 1×1-conv outputs as rows (B, N, C)
    (overwritten with the BatchNorm output) and the BatchNorm γ, β. ``valid`` (B, N, 1) masks the
    rows of the statistics, ``scored`` (B, N, 1) the rows of the attention and its MSE (both float
    0/1 or None); ``target`` is the raw teacher rows (B, N, C) to fuse the patch attention, or None.

    Returns ``(sse, q, k, v, mean_q, rstd_q, mean_k, rstd_k, mean_v, rstd_v)``: the per-sample SSE
    (B,) of the fused attention (zeros without ``target``), the normalised rows, and the statistics
    (S, 1, C) for terms computed outside (the anchors). In training mode the running statistics are
    updated as :func:`.row_batch_norm.update_running_stats_` describes.
    """

    @staticmethod
    def forward(ctx, spec: NormSpec, valid: Optional[Tensor], scored: Optional[Tensor],
                target: Optional[Tensor], *embeddings: Tensor) -> Tuple[Tensor, ...]:
        xs = embeddings[0::3]
        batch, _, channels = xs[0].shape
        states: List[RowNormState] = []
        for norm, x, weight, bias in zip(spec.norms, *(embeddings[i::3] for i in range(3))):
            training = norm.training or not norm.track_running_stats
            running = None if training else (norm.running_mean, norm.running_var)
            state = row_norm_forward_(x, valid, weight, bias, norm.eps, spec.per_sample, running)
            if training and norm.track_running_stats:
                update_running_stats_(norm, state)
            states.append(state)
        ctx.mark_dirty(*xs)
        ctx.set_materialize_grads(False)
        ctx.spec = spec
        ctx.attention = None
        sse = xs[0].new_zeros(batch)
        if target is not None:
            ctx.attention = _GroupedAttention(spec.groups, batch, channels, spec.heads)
            sse = ctx.attention.forward(*xs, target, scored)
        # the statistics are outputs, so they are saved through save_for_backward (an output
        # kept on ctx would form a reference cycle)
        stats = [t for s in states for t in (s.mean, s.rstd)]
        ctx.states = [(s.var, s.count, s.batch_stats, s.exact, s.xhat) for s in states]
        ctx.save_for_backward(valid, *xs, *stats, *embeddings[1::3], *embeddings[2::3])
        return (sse, *xs, *stats)

    @staticmethod
    @_without_autocast
    def backward(ctx, dsse: Optional[Tensor],
                 *grads: Optional[Tensor]) -> Tuple[Optional[Tensor], ...]:
        valid, *saved = ctx.saved_tensors
        ys, stats, weights, biases = saved[0:3], saved[3:9], saved[9:12], saved[12:15]
        result: List[Optional[Tensor]] = [None] * 13  # spec, valid, scored, target, 3 × 3

        def norm_backward(i: int, dy: Tensor, out: Optional[Tensor]) -> None:
            state = RowNormState(stats[2 * i], stats[2 * i + 1], *ctx.states[i])
            result[4 + 3 * i:7 + 3 * i] = row_norm_backward_(
                dy, ys[i], valid, weights[i], biases[i], state, ctx.spec.per_sample,
                grads[3 + 2 * i], grads[4 + 2 * i], out=out)

        if ctx.attention is not None and dsse is not None:
            # the attention yields a gradient once it is done with that input, so the gradient can
            # end in y's own buffer: no fourth full-size tensor (backward runs only once)
            for i, dy in ctx.attention.backward(dsse, *ys):
                norm_backward(i, dy if grads[i] is None else dy.add_(grads[i]), ys[i].detach())
                del dy  # before the attention computes the next gradients
        else:
            for i in range(3):
                if grads[i] is not None:
                    norm_backward(i, grads[i], None)
                elif grads[3 + 2 * i] is not None or grads[4 + 2 * i] is not None:
                    dy = torch.zeros_like(ys[i])
                    norm_backward(i, dy, dy)
        return tuple(result)
