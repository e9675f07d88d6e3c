"""The attention of one query position of a :class:`.loss.TaTLoss`, for inspection.

Neither code path of TaTLoss keeps its attention maps, so this recomputes the attention row of one
position from the loss's own parameters and settings with the pieces of the reference formulation
(:mod:`.reference`: :func:`~.reference.embed`, :func:`~.reference.stack_patches`,
:func:`~.reference.attention`, ...), without autograd, for visualisation
(``tools/visualize_features.py``, ``kdseg.engine.hooks.FeatureVisHook``):

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
use a batch of one unpadded image); tile padding (cover tiling) is. The fused path's denormal
cut-off (weights below eps² dropped) is not applied, as in the reference formulation; it changes
no weight visibly.
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from .loss import TaTLoss
from .reference import attention, embed, key_validity, pool_windows, split_heads, stack_patches
from .tiling import TileGrid

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
        # the whole batch embedded (batch statistics span it), then the sample
        per_sample = loss.bn_stats == 'sample'
        q, k = (embed(module, inp, None, per_sample, update_running_stats=False)
                [sample:sample + 1] for module, inp in ((loss.query, student), (loss.key, teacher)))
        grids = loss.term_grids((height, width))
        out = []
        if grids.patch is not None:
            term = 'plain' if loss.mode == 'plain' else 'patch'
            item = _row(term, q, k, grids.patch, grids.patches_per_group, grids.heads, (y, x))
            if item is not None:
                out.append(item)
        if grids.anchor is not None:
            anchor = grids.anchor
            pooled, valid = pool_windows(torch.cat([q, k], 1), anchor, None)
            q_a, k_a = pooled.chunk(2, dim=1)
            row, col = y // anchor.tile[0], x // anchor.tile[1]
            if row < anchor.grid[0] and col < anchor.grid[1]:  # else dropped by floor tiling
                # the anchors as one patch, each anchor a position
                item = _row('anchor', q_a, k_a, TileGrid(anchor.grid, (1, 1)), 1, 1, (row, col),
                            valid)
                out.append(QueryAttention('anchor', item.weights, item.query, (y, x)))
        return out


def _row(term: str, q: Tensor, k: Tensor, grid: TileGrid, patches_per_group: int, heads: int,
         pos: Tuple[int, int], valid: Optional[Tensor] = None) -> Optional[QueryAttention]:
    """The attention row of pixel ``pos`` of (1, C, H, W) maps q, k tiled by ``grid`` in groups
    of p patches; ``valid`` (1, 1, H, W) marks the pixels that may be keys (default: the map)."""
    (th, tw), (gh, gw) = grid.tile, grid.grid
    y, x = pos
    if y // th >= gh or x // tw >= gw:
        return None  # a border pixel of floor tiling: not in any patch
    group, _ = divmod((y // th) * gw + x // tw, patches_per_group)
    offset = (y % th) * tw + x % tw
    qs, ks = (stack_patches(m, grid, patches_per_group)[0, group] for m in (q, k))  # (P, p·C)
    if valid is None:
        valid = q.new_ones(1, 1, *q.shape[-2:])
    keys = key_validity(stack_patches(valid, grid, patches_per_group)[0, group], q.shape[1],
                        heads)  # (heads, P): tile padding is no key
    weights = attention(split_heads(qs[offset:offset + 1], heads), split_heads(ks, heads), keys)
    return QueryAttention(term, weights.mean(0).view(th, tw).float(),
                          (offset // tw, offset % tw), pos)
