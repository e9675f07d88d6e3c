"""The attention of one query position of a :class:`.loss.TaTLoss`, recomputed for inspection.

TaTLoss fuses its attention with the embeddings' BatchNorm and keeps no map, so this recomputes the
attention row of one position from the loss's own parameters and settings, in plain torch (no
autograd, no fused kernels), for visualisation (``tools/visualize_features.py``,
``kdseg.engine.hooks.FeatureVisHook``):

* ``'patch'`` (modes ``hierarchical`` and ``patch``): the position's patch group shares one
  (ph·pw) × (ph·pw) map (paper sec. 3.3); the row of the position's offset inside its patch, as a
  ``(ph, pw)`` map over the key offsets. With several heads per group (``reference=True`` with more
  patches than n·m) the heads' rows are averaged.
* ``'anchor'`` (modes ``hierarchical`` and ``anchor``): the row of the anchor window holding the
  position, over the ``(a_h, a_w)`` anchor grid.
* ``'plain'``: the position's row over the whole ``(H, W)`` map, averaged over the G heads.

Each map sums to 1 (padding keys get 0). The embeddings use the statistics the loss itself uses:
the running statistics in eval mode; in training mode the batch (``bn_stats='batch'``) or
per-sample statistics over all pixels of the map, without updating the running statistics.
Padding given to the loss through ``data_samples`` / ``valid_mask`` is not modelled (the tools
use a batch of one unpadded image); tile padding (cover tiling) is. The loss's denormal cut-off
(weights below eps² dropped) is not applied; it changes no weight visibly.
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import key_mask
from .loss import TaTLoss, _pool_windows
from .tiling import patch_rows, tile_grid

__all__ = ['QueryAttention', 'query_attention']


@dataclass(frozen=True)
class QueryAttention:
    """One attention row of a TaT term.

    Attributes:
        term: ``'patch'``, ``'anchor'`` or ``'plain'``.
        weights: (h, w) float32 attention over the key grid of the term (sums to 1).
        query: the (row, column) of the query in that grid (its own key cell).
        position: the (row, column) feature pixel the query was taken at.
    """

    term: str
    weights: Tensor
    query: Tuple[int, int]
    position: Tuple[int, int]


def _statistics(loss: TaTLoss, norm: nn.BatchNorm2d, x: Tensor) -> Tuple[Tensor, Tensor]:
    """(mean, 1/std) of ``x`` (B, C, H, W) as the loss normalises it: (B or 1, C, 1, 1)."""
    if not (norm.training or not norm.track_running_stats):
        mean, var = norm.running_mean, norm.running_var
        return mean.view(1, -1, 1, 1), (var + norm.eps).rsqrt().view(1, -1, 1, 1)
    dims = (2, 3) if loss.bn_stats == 'sample' else (0, 2, 3)
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, unbiased=False, keepdim=True)
    return mean, (var + norm.eps).rsqrt()


def query_attention(loss: TaTLoss, student: Tensor, teacher: Tensor,
                    position: Optional[Tuple[int, int]] = None,
                    sample: int = 0) -> List[QueryAttention]:
    """The attention rows of the feature pixel ``position`` of ``sample``, one per TaT term.

    Args:
        loss: the TaTLoss (its embeddings, tiling and mode; its train/eval mode picks the
            BatchNorm statistics, as in its forward).
        student: (B, C_s, H, W) student feature, as passed to the loss.
        teacher: (B, C_t, H, W) teacher feature.
        position: (row, column) of the query in the teacher's H × W map; default the centre
            ``(H // 2, W // 2)``.
        sample: the batch index.

    Returns:
        ``[patch, anchor]`` for ``'hierarchical'``, else the one term of the mode; a term is left
        out where the position is outside its tiles (floor tiling's dropped border).
    """
    with torch.no_grad():
        student = loss._match_student(student, teacher)
        dtype = loss.query[0].weight.dtype
        student, teacher = student.to(dtype), teacher.to(dtype)
        height, width = teacher.shape[-2:]
        y, x = position if position is not None else (height // 2, width // 2)
        if not (0 <= y < height and 0 <= x < width):
            raise ValueError(f'position {(y, x)} is outside the {height}×{width} feature map')
        y, x = int(y), int(x)
        maps, stats = {}, {}
        for name, module, inp in (('q', loss.query, student), ('k', loss.key, teacher),
                                  ('v', loss.value, student)):
            conv = F.conv2d(inp, module[0].weight)
            mean, rstd = _statistics(loss, module[1], conv)
            stats[name] = (module, mean, rstd)
            maps[name] = (conv - mean) * rstd * module[1].weight.view(1, -1, 1, 1) + \
                module[1].bias.view(1, -1, 1, 1)
        q, k = maps['q'][sample], maps['k'][sample]  # (C, H, W)
        out = []
        if loss.mode == 'plain':
            heads = loss.num_groups or 1
            qh = q[:, y, x].view(heads, -1)
            kh = k.flatten(1).view(heads, -1, height * width)
            attn = torch.softmax(torch.einsum('hd,hdn->hn', qh, kh), -1).mean(0)
            out.append(QueryAttention('plain', attn.view(height, width), (y, x), (y, x)))
        if loss.mode in ('hierarchical', 'patch'):
            item = _patch_attention(loss, q, k, (height, width), (y, x))
            if item is not None:
                out.append(item)
        if loss.mode in ('hierarchical', 'anchor'):
            item = _anchor_attention(loss, student[sample:sample + 1],
                                     teacher[sample:sample + 1], stats, sample, (y, x))
            if item is not None:
                out.append(item)
        return out


def _patch_attention(loss: TaTLoss, q: Tensor, k: Tensor, size: Tuple[int, int],
                     pos: Tuple[int, int]) -> Optional[QueryAttention]:
    height, width = size
    grid = tile_grid(size, loss.num_patches, loss.patch_size, loss.tiling == 'cover',
                     'num_patches' if loss.num_patches else 'patch_size')
    p, heads = loss._reference_heads(grid, size)
    layout = patch_rows(size, grid, p, q.device)
    channels = q.shape[0]
    rows = layout.pixel_row[pos[0] * width + pos[1]]
    if not bool(layout.scored[rows]):
        return None  # a border pixel of floor tiling: not in any patch
    group_rows = layout.positions * p
    group, offset = divmod(int(rows), group_rows)
    span = slice(group * group_rows, (group + 1) * group_rows)
    index, valid = layout.index[span], layout.valid[span]
    # (P·p, C) rows of the group, padding rows zero, as (P, p·C): patches stacked along channels
    qg, kg = ((m.flatten(1).t()[index] * valid[:, None]).view(layout.positions, p * channels)
              for m in (q, k))
    width_h = p * channels // heads
    logits = torch.einsum('hd,hnd->hn', qg[offset // p].view(heads, width_h),
                          kg.view(layout.positions, heads, width_h).transpose(0, 1))
    keys = key_mask(valid.view(1, layout.positions, p).float(), heads, channels)
    attn = torch.softmax(logits.masked_fill(~keys, float('-inf')), -1).mean(0)
    tile_h, tile_w = grid.tile
    cell = offset // p
    return QueryAttention('patch', attn.view(tile_h, tile_w), divmod(cell, tile_w), pos)


def _anchor_attention(loss: TaTLoss, student: Tensor, teacher: Tensor, stats: dict,
                      sample: int, pos: Tuple[int, int]) -> Optional[QueryAttention]:
    grid = tile_grid(teacher.shape[-2:], loss.num_anchors, loss.anchor_size,
                     loss.tiling == 'cover', 'num_anchors' if loss.num_anchors else 'anchor_size')
    row, col = pos[0] // grid.tile[0], pos[1] // grid.tile[1]
    if row >= grid.grid[0] or col >= grid.grid[1]:
        return None  # floor tiling dropped this pixel from the anchor windows
    anchors = {}
    for name, x in (('q', student), ('k', teacher)):
        pooled, anchor_valid = _pool_windows(x, grid, None)  # (1, A, C)
        module, mean, rstd = stats[name]
        # pooling commutes with the 1×1 conv and BatchNorm's affine map (as in TaTLoss)
        mean = mean[sample if mean.shape[0] > 1 else 0].flatten()
        rstd = rstd[sample if rstd.shape[0] > 1 else 0].flatten()
        y = (pooled[0] @ module[0].weight.flatten(1).t() - mean) * rstd * module[1].weight + \
            module[1].bias
        anchors[name] = y
    valid = (anchor_valid[0, :, 0] > 0) if anchor_valid is not None else None
    logits = anchors['k'] @ anchors['q'][row * grid.grid[1] + col]
    if valid is not None:
        logits = logits.masked_fill(~valid, float('-inf'))
    attn = torch.softmax(logits, 0)
    return QueryAttention('anchor', attn.view(*grid.grid), (row, col), pos)
