"""Tiling a feature map into TaT patches and anchor windows (Lin et al., CVPR 2022, sec. 3.3).

A tile grid is set by a tile count per axis (``num_patches=(n, m)``, ``num_anchors=(a_h, a_w)``) or
by a tile size in feature pixels (``patch_size``, ``anchor_size``). Two rules place the tiles:

* ``floor`` - the TaT-seg reference: tile size ``⌊H/n⌋ × ⌊W/m⌋`` and as many whole tiles as fit
  (``⌊H/ph⌋`` rows of tiles; this is what ``Tensor.unfold`` and ``AvgPool2d`` do). The trailing rows
  and columns that do not fill a tile are dropped.
* ``cover`` - kdseg's default: the same tile size, plus one partial tile at the bottom / right when
  the map does not divide (``⌈H/ph⌉`` rows of tiles). The partial tiles' missing pixels are padding,
  masked out of the loss. When the tile size divides the map, both rules give the same tiles.

Patches are numbered in raster order (``r·cols + c``) and grouped in runs of ``p`` consecutive
patches; when the number of patches is not a multiple of ``p``, the last group is completed with
empty (fully padded) patches. Inside a group, rows are ordered ``[position y, position x, patch j]``
so that, with channels last, one group is a contiguous ``(ph·pw) × (p·C)`` matrix: exactly the
reference's ``b (h d) x y -> b h (x y) d`` layout of the patch-stacked tensor, with no transpose.
The pixels that floor tiling drops follow in groups of their own: they count in the embeddings'
BatchNorm statistics (as in the reference) but not in the loss.

The row layout is computed on the host once per (map size, tiles, group size, device, dtype) and
cached there (:func:`patch_rows`); it reaches a CUDA device through pinned memory asynchronously
(:func:`to_device`), so no loss step copies from the host synchronously.
"""
import functools
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import torch
from torch import Tensor

__all__ = ['TileGrid', 'TermGrids', 'PatchRows', 'tile_grid', 'patch_rows', 'gather_rows',
           'to_device']


@dataclass(frozen=True)
class TileGrid:
    """Non-overlapping tiles of ``tile`` feature pixels, ``grid`` tiles per axis."""

    tile: Tuple[int, int]
    grid: Tuple[int, int]

    @property
    def num_tiles(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def extent(self) -> Tuple[int, int]:
        """Height and width spanned by the tiles (less than the map: floor; more: cover)."""
        return self.grid[0] * self.tile[0], self.grid[1] * self.tile[1]


@dataclass(frozen=True)
class TermGrids:
    """The tiles of each TaT term on one feature-map size: the host-side decisions that both code
    paths (fused and reference formulation) and the visualiser share.

    Attributes:
        patch: the patch grid, or None without a patch term (``mode='anchor'``). ``mode='plain'``
            is one patch covering the whole map.
        patches_per_group: p, the patches stacked into one group (one attention map).
        heads: the heads each group's p·C stacked channels are split into.
        anchor: the anchor-window grid, or None without an anchor term.
    """

    patch: Optional[TileGrid]
    patches_per_group: int
    heads: int
    anchor: Optional[TileGrid]


def to_device(host: Tensor, device: Union[str, torch.device]) -> Tensor:
    """``host`` on ``device`` without synchronising the host with it: through pinned memory and
    an asynchronous copy on CUDA (the pinned buffer is kept until the copy is done by PyTorch's
    host allocator); a plain ``.to`` elsewhere."""
    device = torch.device(device)
    if device.type == 'cuda':
        return host.pin_memory().to(device, non_blocking=True)
    return host.to(device)


def tile_grid(map_size: Tuple[int, int], count: Optional[Tuple[int, int]] = None,
              size: Optional[Tuple[int, int]] = None, cover: bool = True,
              arg_name: str = 'num_patches') -> TileGrid:
    """The tile grid for an ``(H, W)`` map, from tile ``count`` or tile ``size`` (exactly one).

    ``arg_name`` names the configuration key in errors (``num_patches``, ``anchor_size``, ...).
    """
    tile, grid = [], []
    for axis, extent in enumerate(map_size):
        if size is not None:
            t = size[axis]
        else:  # more tiles than pixels: one pixel per tile when covering
            t = extent // count[axis] or int(cover)
        n = (-(-extent // t) if cover else extent // t) if t > 0 else 0
        if n == 0:
            given = size if size is not None else count
            raise ValueError(
                f'{arg_name}={tuple(given)} does not fit the feature map {tuple(map_size)} with '
                "floor tiling (the TaT-seg reference rule): no whole tile fits. Use "
                f"tiling='cover' or a smaller {arg_name}.")
        tile.append(t)
        grid.append(n)
    return TileGrid(tile=(tile[0], tile[1]), grid=(grid[0], grid[1]))


@dataclass(frozen=True)
class PatchRows:
    """Pixel order of the patch-group layout of an ``(H, W)`` map.

    The rows are ``num_groups`` groups of ``P·p`` rows: the patch groups, then (floor tiling) groups
    holding the border pixels that no tile covers. Padding rows (outside the map, empty patches,
    the end of the last border group) point at pixel 0.

    Attributes:
        index: ``(num_groups·P·p,)`` long, the flat pixel ``y·W + x`` of each row.
        valid: ``(num_groups·P·p,)`` bool, True for the rows of real pixels (not padding).
        scored: ``(num_groups·P·p,)`` bool, True for the rows of pixels inside a patch: the rows
            the loss is computed on (``valid`` without the border rows).
        valid_weight, scored_weight: ``valid`` and ``scored`` as 0/1 in the loss's dtype.
        pixel_row: ``(H·W,)`` long, the row holding each pixel.
        num_groups, positions, patches_per_group: the layout ``(num_groups, P = ph·pw, p)``.
        num_scored: the number of scored rows.
        has_padding, has_border: whether any row is padding / a border row (known on the host).
        is_identity: whether the rows are exactly the pixels in raster order.
    """

    index: Tensor
    valid: Tensor
    scored: Tensor
    valid_weight: Tensor
    scored_weight: Tensor
    pixel_row: Tensor
    num_groups: int
    positions: int
    patches_per_group: int
    num_scored: int
    has_padding: bool
    has_border: bool
    is_identity: bool


def patch_rows(map_size: Tuple[int, int], grid: TileGrid, patches_per_group: int,
               device: Optional[Union[str, torch.device]] = None,
               dtype: torch.dtype = torch.float32) -> PatchRows:
    """Rows ``[group, y, x, j]`` of the patch-group layout (patch ``group·p + j``, raster order),
    on ``device``; cached per (map size, tiles, p, device, dtype): the returned tensors are shared
    and must not be modified."""
    return _patch_rows(tuple(map_size), grid, patches_per_group,
                       torch.device('cpu' if device is None else device), dtype)


@functools.lru_cache(maxsize=256)
def _patch_rows(map_size: Tuple[int, int], grid: TileGrid, patches_per_group: int,
                device: torch.device, dtype: torch.dtype) -> PatchRows:
    height, width = map_size
    th, tw = grid.tile
    p = patches_per_group
    group_rows = th * tw * p
    g, y, x, j = torch.meshgrid(
        torch.arange(-(-grid.num_tiles // p)), torch.arange(th), torch.arange(tw),
        torch.arange(p), indexing='ij')
    patch = g * p + j
    row = patch // grid.grid[1] * th + y
    col = patch % grid.grid[1] * tw + x
    scored = ((patch < grid.num_tiles) & (row < height) & (col < width)).flatten()
    pixels = (row * width + col).flatten()[scored]
    covered = torch.zeros(height * width, dtype=torch.bool)
    covered[pixels] = True
    border = torch.nonzero(~covered).flatten()
    border_pad = -border.numel() % group_rows
    valid = torch.cat([scored, torch.ones(border.numel(), dtype=torch.bool),
                       torch.zeros(border_pad, dtype=torch.bool)])
    index = torch.zeros(valid.numel(), dtype=torch.long)
    index[torch.nonzero(scored).flatten()] = pixels
    index[scored.numel():scored.numel() + border.numel()] = border
    pixel_row = torch.empty(height * width, dtype=torch.long)
    pixel_row[index[valid]] = torch.nonzero(valid).flatten()
    num_scored = int(scored.sum())
    scored = torch.cat([scored, torch.zeros(border.numel() + border_pad, dtype=torch.bool)])
    is_identity = index.numel() == height * width and bool(
        (index == torch.arange(height * width)).all())
    return PatchRows(
        index=to_device(index, device), valid=to_device(valid, device),
        scored=to_device(scored, device), valid_weight=to_device(valid.to(dtype), device),
        scored_weight=to_device(scored.to(dtype), device),
        pixel_row=to_device(pixel_row, device), num_groups=valid.numel() // group_rows,
        positions=th * tw, patches_per_group=p, num_scored=num_scored,
        has_padding=not bool(valid.all()), has_border=border.numel() > 0,
        is_identity=is_identity)


class _PermuteRows(torch.autograd.Function):
    """``rows = flat[index]`` whose backward gathers with the inverse permutation.

    Every pixel appears exactly once among the non-padding rows; padding rows (which repeat pixel 0)
    must receive zero gradient, which TaTLoss guarantees by masking them. A gather then replaces
    ``index_select``'s serial scatter-add backward.
    """

    @staticmethod
    def forward(ctx, flat: Tensor, index: Tensor, inverse: Tensor) -> Tensor:
        ctx.save_for_backward(inverse)
        return flat.index_select(0, index)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tuple[Tensor, None, None]:
        inverse, = ctx.saved_tensors
        return grad.index_select(0, inverse), None, None


def gather_rows(x: Tensor, layout: PatchRows) -> Tensor:
    """Channels-last (B, C, H, W) → rows (B, num_groups·P·p, C) in the layout's order.

    One gather over all samples; padding rows must get zero gradient (see :class:`_PermuteRows`).
    """
    batch, channels, height, width = x.shape
    flat = x.permute(0, 2, 3, 1).reshape(-1, channels)  # a view of channels-last memory
    if layout.is_identity:
        return flat.view(batch, -1, channels)
    n = layout.index.numel()
    sample = torch.arange(batch, device=x.device)[:, None]
    index = (sample * height * width + layout.index).flatten()
    inverse = (sample * n + layout.pixel_row).flatten()
    return _PermuteRows.apply(flat, index, inverse).view(batch, n, channels)
