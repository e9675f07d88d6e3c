"""TaT's reference formulation: plain torch and autograd, next to the paper's equations.

Lin et al., "Knowledge Distillation via the Target-aware Transformer", CVPR 2022, arXiv 2205.10793
(eqs. 4-6, sec. 3.3); METHODS.md section 1. This is the one readable statement of what
:class:`.loss.TaTLoss` computes, in every mode and option it has, and the code path
``TaTLoss(..., impl='reference')`` runs (``impl='auto'`` picks it on CUDA, see
:func:`.loss.resolve_impl`). It works on the loss module's own parameters and BatchNorm buffers, so
flipping ``impl`` on one module gives the same values, the same gradients and the same
running-statistics updates (``tests/.../test_tat/test_impl.py``). The benchmark
(``tools/benchmark_losses.py``) times the fused path against it, and the visualiser
(:mod:`.query_attention`) rebuilds one attention row from its pieces.

Two words that are easy to confuse:

* ``TaTLoss(reference=True)`` selects the *semantics* of the authors' TaT-seg code (per-sample
  BatchNorm statistics, floor tiling, the reference's heads), against kdseg's defaults;
* ``impl='reference'`` selects this *code path*. It computes whichever semantics ``reference``,
  ``bn_stats`` and ``tiling`` select, as ``impl='fused'`` does.

The maths, per sample, on maps (B, C, H, W):

1. Embeddings (sec. 3.2): ``Q = query(S)``, ``K = key(T)``, ``V = value(S)`` (the paper's γ, θ,
   φ); each a 1×1 convolution without bias, then BatchNorm (:func:`embed`): batch statistics,
   per-sample statistics (the reference calls the loss one sample at a time), or the running
   statistics in eval mode; padding pixels take no part in the statistics and are zeros in Q, K
   and V.
2. Patch groups (sec. 3.3, :func:`stack_patches`): the map is cut into patches of ph × pw, numbered
   in raster order; p consecutive patches form a group, stacked along channels (stacked channel
   ``j·C + c`` for patch j of the group); a group is a matrix of P = ph·pw positions × p·C
   channels, split into ``heads`` blocks of D = p·C/heads columns.
3. Attention (eqs. 4-6, :func:`attention`, :func:`attention_sse`): per group and head,
   ``A = softmax_j(Q Kᵀ)`` (no 1/√D scaling, no temperature; a key position is left out when it
   is padding in every patch of the head), ``O = A V``, and the squared error ``Σ (O − T)²`` over
   the scored positions against the RAW teacher feature T, stacked alike.
4. Anchors (sec. 3.3): Q, K, V and T averaged over anchor windows (:func:`pool_windows`), then
   one-head attention over the anchors, as one group of one "patch" whose positions are the anchors.
5. ``ℓ = patch_weight·L_patch + anchor_weight·L_anchor`` per sample (the paper's β, γ), each L
   the squared error divided by its scored positions × C_t; the loss is
   ``loss_weight·mean_b ℓ`` (α). ``mode='plain'`` is step 3 on one patch covering the map, with G
   heads and weight 1.

Numerics as the fused path's, to rounding: the loss runs in the loss's dtype (float32 under
autocast too, see :class:`.loss.TaTLoss`), and attention weights below eps² are set to 0 (a CPU
speed fix for denormal floats, :func:`attention`). The squared errors are summed by ``Tensor.sum``
in the loss's dtype (the fused path sums per row, then in float64).

Everything is vectorised over the batch (no loop over samples, except the B momentum steps of the
running statistics with per-sample statistics) and reads no tensor value on the host, so a loss
step does not synchronise with the device.
"""
import math
from typing import TYPE_CHECKING, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .tiling import TileGrid

if TYPE_CHECKING:  # the loss imports this module
    from .loss import TaTLoss

__all__ = ['reference_formulation', 'embed', 'stack_patches', 'split_heads', 'merge_heads',
           'key_validity', 'attention', 'attention_sse', 'pool_windows']


def embed(embedding: nn.Sequential, x: Tensor, valid: Optional[Tensor], per_sample: bool,
          update_running_stats: bool = True) -> Tensor:
    """query(S), key(T) or value(S): the 1×1 convolution, then BatchNorm over the valid pixels.

    Statistics: in training mode (or without running statistics) the mean and biased variance per
    channel over the valid pixels of the batch (``per_sample=False``) or of each sample
    (``per_sample=True``, the TaT-seg reference); in eval mode the running statistics. In training
    mode the running statistics take one momentum step per statistics group, in order (B steps with
    per-sample statistics, as B calls of ``nn.BatchNorm2d`` on one sample each), with the unbiased
    variance; a group without valid pixels is skipped. ``update_running_stats=False`` leaves the
    buffers alone (the visualiser).

    Args:
        embedding: ``Sequential(Conv2d 1×1 without bias, BatchNorm2d)``, the loss's own.
        x: (B, C_in, H, W).
        valid: (B, H, W) bool, True at valid pixels, or None (all valid).
        per_sample: per-sample statistics instead of batch statistics.

    Returns:
        (B, C_t, H, W), zero at invalid pixels.
    """
    conv, norm = embedding
    z = conv(x)
    batch, channels = z.shape[:2]
    if not (norm.training or not norm.track_running_stats):
        # eval: y = (z − running mean)·rsqrt(running var + eps)·bn_weight + bn_bias
        y = norm(z)
        return y if valid is None else y * valid[:, None].to(y.dtype)
    if valid is None and not per_sample:  # nn.BatchNorm2d itself: batch statistics, one step
        y = norm(z) if update_running_stats else F.batch_norm(
            z, None, None, norm.weight, norm.bias, True, 0.0, norm.eps)
    elif valid is None:
        # per-sample statistics: every (sample, channel) pair is a channel of one BatchNorm call,
        # so each sample is normalised with its own statistics, as in the reference's B calls
        y = F.batch_norm(z.reshape(1, batch * channels, *z.shape[2:]), None, None,
                         norm.weight.expand(batch, -1).flatten(), norm.bias.expand(batch, -1)
                         .flatten(), True, 0.0, norm.eps).view_as(z)
        if update_running_stats and norm.track_running_stats:
            var, mean = torch.var_mean(z.detach(), (2, 3), correction=0)
            _momentum_steps(norm, mean, var, z.new_full((batch, 1), z[0, 0].numel()))
    else:  # statistics over the valid pixels only, written out
        dims = (2, 3) if per_sample else (0, 2, 3)
        w = valid[:, None].to(z.dtype)
        count = w.sum(dims, keepdim=True)
        mean = (z * w).sum(dims, keepdim=True) / count.clamp(min=1)
        var = ((z - mean).square() * w).sum(dims, keepdim=True) / count.clamp(min=1)
        if update_running_stats and norm.track_running_stats:
            _momentum_steps(norm, mean.flatten(1), var.flatten(1), count.flatten(1))
        y = ((z - mean) * torch.rsqrt(var + norm.eps) * norm.weight[:, None, None]
             + norm.bias[:, None, None]) * w
    return y


def _momentum_steps(norm: nn.BatchNorm2d, mean: Tensor, var: Tensor, count: Tensor) -> None:
    """One BatchNorm momentum step per statistics group s (rows of ``mean``, ``var`` (S, C) and
    ``count`` (S, 1)), in order: ``r ← (1 − m)·r + m·μ_s`` and
    ``r_var ← (1 − m)·r_var + m·σ²_s·n_s/(n_s − 1)``, with m = 0 for a group without valid pixels
    (n_s = 0)."""
    with torch.no_grad():
        valid = count > 0
        unbiased = var * count / (count - 1).clamp(min=1)
        step = norm.momentum * valid.to(mean.dtype)
        for mean_s, var_s, step_s in zip(mean.unbind(), unbiased.unbind(), step.unbind()):
            norm.running_mean.lerp_(mean_s, step_s)
            norm.running_var.lerp_(var_s, step_s)
        norm.num_batches_tracked.add_(valid.sum())


def _fit(x: Tensor, extent: Tuple[int, int]) -> Tensor:
    """Crop (floor tiling) or zero-pad at the bottom / right (cover tiling) the last two dims of
    ``x`` to ``extent``."""
    x = x[..., :extent[0], :extent[1]]
    pad = (0, extent[1] - x.shape[-1], 0, extent[0] - x.shape[-2])
    return F.pad(x, pad) if any(pad) else x


def stack_patches(x: Tensor, grid: TileGrid, patches_per_group: int) -> Tensor:
    """(B, C, H, W) → (B, G, P, p·C): the patch groups of ``x`` as matrices (paper sec. 3.3).

    The map is cropped (floor tiling) or zero-padded (cover tiling) to the grid's extent and cut
    into patches of ``grid.tile`` = (ph, pw) pixels, numbered in raster order; empty (zero) patches
    complete the last group. Group g holds patches ``g·p + j`` (j < p); pixel (y, x) of a patch is
    position ``y·pw + x`` (P = ph·pw); channel c of patch j is stacked channel ``j·C + c`` (the
    reference's patches concatenated along channels, then ``'b (h d) x y -> b h (x y) d'``).
    """
    batch, channels = x.shape[:2]
    (th, tw), (gh, gw) = grid.tile, grid.grid
    p = patches_per_group
    groups = -(-grid.num_tiles // p)
    patches = _fit(x, grid.extent).reshape(batch, channels, gh, th, gw, tw)
    patches = patches.permute(0, 2, 4, 3, 5, 1).reshape(batch, gh * gw, th * tw, channels)
    if groups * p > gh * gw:
        patches = F.pad(patches, (0, 0, 0, 0, 0, groups * p - gh * gw))
    return patches.view(batch, groups, p, th * tw, channels).transpose(2, 3).reshape(
        batch, groups, th * tw, p * channels)


def split_heads(stack: Tensor, heads: int) -> Tensor:
    """(…, P, p·C) → (…, heads, P, D): head h holds the stacked channels [h·D, (h + 1)·D)."""
    *lead, positions, width = stack.shape
    return stack.view(*lead, positions, heads, width // heads).transpose(-3, -2)


def merge_heads(stack: Tensor) -> Tensor:
    """The inverse of :func:`split_heads`: (…, heads, P, D) → (…, P, heads·D)."""
    return stack.transpose(-3, -2).flatten(-2)


def key_validity(scored: Tensor, channels: int, heads: int) -> Tensor:
    """(…, P, p) validity of each position in each patch → (…, heads, P) bool key validity.

    A key position counts for a head when it is valid in one of the patches that the head's
    channels come from (a head may straddle patches: ``reference=True`` with more patches than
    n·m). A head without any valid key attends uniformly (its queries are all padding, so it adds
    nothing to the loss).
    """
    per_channel = scored[..., None].expand(*scored.shape, channels).flatten(-2)  # (…, P, p·C)
    keys = split_heads(per_channel, heads).amax(-1) > 0
    return keys | ~keys.any(-1, keepdim=True)


def attention(q: Tensor, k: Tensor, key_valid: Optional[Tensor] = None) -> Tensor:
    """Paper eq. 4: ``A = softmax_j(q kᵀ)`` over the keys, with no 1/√D scaling and no
    temperature. q (…, P_q, D), k (…, P, D), ``key_valid`` (…, P) bool or None → (…, P_q, P);
    keys outside ``key_valid`` get weight 0.

    Weights below eps² of the dtype (1.4e-14 in float32) are set to 0, as the fused path does:
    together they change an output by far less than its rounding, and without the cut-off the
    peaked maps (unscaled logits summed over p·C channels) are full of denormal floats, which make
    CPU matmuls on Intel processors about ten times slower (docs/benchmarks.md).
    """
    logits = q @ k.transpose(-1, -2)
    if key_valid is not None:
        logits = logits.masked_fill(~key_valid[..., None, :], float('-inf'))
    floor = logits.detach().amax(-1, keepdim=True) + 2 * math.log(torch.finfo(logits.dtype).eps)
    return logits.masked_fill(logits < floor, float('-inf')).softmax(-1)


def attention_sse(q: Tensor, k: Tensor, v: Tensor, target: Tensor, scored: Optional[Tensor],
                  heads: int) -> Tensor:
    """Per-sample ``Σ (O − T)²`` of the grouped attention (paper eqs. 4-6).

    Args:
        q, k, v, target: (B, G, P, p·C) group stacks (:func:`stack_patches`); q, k, v zero at
            padding positions.
        scored: (B, G, P, p) float 0/1, the positions of each patch that the loss scores (valid
            pixels inside the map), or None when all are.
        heads: heads per group.

    Returns:
        (B,) the squared error of ``O = A V`` against ``target`` over the scored positions × C.
    """
    keys = None if scored is None else key_validity(scored, q.shape[-1] // scored.shape[-1],
                                                    heads)
    out = merge_heads(attention(split_heads(q, heads), split_heads(k, heads), keys)
                      @ split_heads(v, heads))
    diff = out - target
    if scored is not None:
        diff = (diff.unflatten(-1, (scored.shape[-1], -1)) * scored[..., None]).flatten(-2)
    return diff.square().sum((1, 2, 3))


def pool_windows(x: Tensor, grid: TileGrid, valid: Optional[Tensor]
                 ) -> Tuple[Tensor, Optional[Tensor]]:
    """Average ``x`` (B, C, H, W) over the windows of ``grid`` → (B, C, a_h, a_w), and each
    window's validity (B, 1, a_h, a_w) float 0/1, or None when every window is whole and valid.

    Floor tiling: ``avg_pool2d`` drops the remainder itself. Cover tiling pads the map with
    zero-weight pixels. Windows average their valid pixels only; a window without one is 0 and
    invalid.
    """
    height, width = x.shape[-2:]
    ext_h, ext_w = grid.extent
    pad = (0, max(0, ext_w - width), 0, max(0, ext_h - height))
    if valid is None and not any(pad):
        return F.avg_pool2d(x, grid.tile), None
    mask = (x.new_ones(1, 1, height, width) if valid is None else
            valid[:, None].to(x.dtype))
    total = F.avg_pool2d(F.pad(x * mask, pad), grid.tile)
    weight = F.avg_pool2d(F.pad(mask, pad), grid.tile)
    # a window with a valid pixel has weight ≥ 1/(kh·kw); one without has total 0
    pooled = total / weight.clamp(min=1 / (grid.tile[0] * grid.tile[1]))
    return pooled, (weight > 0).to(x.dtype).expand(x.shape[0], -1, -1, -1)


def reference_formulation(loss: 'TaTLoss', student: Tensor, teacher: Tensor,
                          valid: Optional[Tensor]) -> Tensor:
    """The TaT loss of ``loss``'s configuration, parameters and buffers, by plain autograd.

    Args:
        loss: the :class:`.loss.TaTLoss` (its mode, tiling, statistics, weights, embeddings).
        student: (B, C_s, H, W) student feature, at the teacher's size and the loss's dtype.
        teacher: (B, C_t, H, W) teacher feature, detached.
        valid: (B, H, W) bool valid pixels, or None.

    Returns:
        ``loss_weight · mean_b (patch_weight·L_patch + anchor_weight·L_anchor)``
        (``mode='plain'``: ``loss_weight · mean_b L``).
    """
    batch, channels, height, width = teacher.shape
    grids = loss.term_grids((height, width))
    per_sample = loss.bn_stats == 'sample'
    q, k, v = (embed(module, x, valid, per_sample) for module, x in
               ((loss.query, student), (loss.key, teacher), (loss.value, student)))
    ell = teacher.new_zeros(batch)

    if grids.patch is not None:
        grid, p = grids.patch, grids.patches_per_group
        # the four maps tiled together, as one batch of 4·B
        stacks = stack_patches(torch.cat([q, k, v, teacher]), grid, p).chunk(4)
        padded = (valid is not None or grid.extent[0] > height or grid.extent[1] > width
                  or -(-grid.num_tiles // p) * p > grid.num_tiles)
        scored = None
        if padded:  # tile padding, empty patches and invalid pixels are not scored
            mask = (teacher.new_ones(1, 1, height, width) if valid is None else
                    valid[:, None].to(teacher.dtype))
            scored = stack_patches(mask, grid, p).expand(batch, -1, -1, -1)
        sse = attention_sse(*stacks, scored, grids.heads)
        count = (min(grid.extent[0], height) * min(grid.extent[1], width) if scored is None else
                 scored.sum((1, 2, 3)).clamp(min=1))
        weight = 1.0 if loss.mode == 'plain' else loss.patch_weight
        ell = ell + weight * sse / (count * channels)

    if grids.anchor is not None:
        # Q, K, V and T pooled together; the anchors are one group of one patch
        pooled, anchor_valid = pool_windows(torch.cat([q, k, v, teacher], 1), grids.anchor,
                                            valid)
        one_patch = TileGrid(tile=tuple(pooled.shape[-2:]), grid=(1, 1))
        stacks = stack_patches(pooled, one_patch, 1).chunk(4, dim=-1)
        scored = None if anchor_valid is None else stack_patches(anchor_valid, one_patch, 1)
        sse = attention_sse(*stacks, scored, 1)
        count = grids.anchor.num_tiles if scored is None else scored.sum((1, 2, 3)).clamp(min=1)
        ell = ell + loss.anchor_weight * sse / (count * channels)
    return loss.loss_weight * ell.mean()
