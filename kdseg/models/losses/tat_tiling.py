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
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = ['TileGrid', 'PatchRows', 'tile_grid', 'patch_rows', 'gather_rows']


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

    Attributes:
        index: ``(num_groups·P·p,)`` long, the flat pixel ``y·W + x`` of each row; rows of padding
            (outside the map, or empty patches) point at pixel 0 and are marked invalid.
        valid: ``(num_groups·P·p,)`` bool, False for padding rows.
        border: ``(N_b,)`` long, the pixels that no tile covers (floor tiling drops them).
        pixel_row: ``(H·W,)`` long, the row holding each pixel: ``< N`` in the patch rows, else
            ``N +`` its position in ``border``.
        num_groups, positions, patches_per_group: the layout ``(num_groups, P = ph·pw, p)``.
        has_padding: whether any row is padding (known without a device sync).
        is_identity: whether the rows are exactly the pixels in raster order.
    """

    index: Tensor
    valid: Tensor
    border: Tensor
    pixel_row: Tensor
    num_groups: int
    positions: int
    patches_per_group: int
    has_padding: bool
    is_identity: bool


def patch_rows(map_size: Tuple[int, int], grid: TileGrid, patches_per_group: int,
               device: Optional[torch.device] = None) -> PatchRows:
    """Rows ``[group, y, x, j]`` of the patch-group layout (patch ``group·p + j``, raster order)."""
    height, width = map_size
    th, tw = grid.tile
    p = patches_per_group
    num_groups = -(-grid.num_tiles // p)
    g, y, x, j = torch.meshgrid(
        torch.arange(num_groups), torch.arange(th), torch.arange(tw), torch.arange(p),
        indexing='ij')
    patch = g * p + j
    row = patch // grid.grid[1] * th + y
    col = patch % grid.grid[1] * tw + x
    valid = ((patch < grid.num_tiles) & (row < height) & (col < width)).flatten()
    index = torch.where(valid, (row * width + col).flatten(), 0)
    covered = torch.zeros(height * width, dtype=torch.bool)
    covered[index[valid]] = True
    border = torch.nonzero(~covered).flatten()
    pixel_row = torch.empty(height * width, dtype=torch.long)
    pixel_row[index[valid]] = torch.nonzero(valid).flatten()
    pixel_row[border] = index.numel() + torch.arange(border.numel())
    is_identity = index.numel() == height * width and bool(
        (index == torch.arange(height * width)).all())
    return PatchRows(index=index.to(device), valid=valid.to(device), border=border.to(device),
                     pixel_row=pixel_row.to(device), num_groups=num_groups, positions=th * tw,
                     patches_per_group=p, has_padding=not bool(valid.all()),
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


def gather_rows(x: Tensor, layout: PatchRows) -> Tuple[Tensor, Optional[Tensor]]:
    """Channels-last (B, C, H, W) → patch rows (B, N, C) and border rows (B, N_b, C) or None.

    One gather over all samples (rows of every sample, then the border rows of every sample), so
    both outputs are contiguous and the backward writes one buffer. Padding rows must get zero
    gradient (see :class:`_PermuteRows`).
    """
    batch, channels, height, width = x.shape
    flat = x.permute(0, 2, 3, 1).reshape(-1, channels)  # a view of channels-last memory
    if layout.is_identity:
        return flat.view(batch, -1, channels), None
    n, n_border = layout.index.numel(), layout.border.numel()
    sample = torch.arange(batch, device=x.device)[:, None]
    index = torch.cat([(sample * height * width + layout.index).flatten(),
                       (sample * height * width + layout.border).flatten()])
    row = layout.pixel_row
    inverse = torch.where(row < n, sample * n + row, batch * n + sample * n_border + row - n)
    rows, border = _PermuteRows.apply(flat, index, inverse.flatten()).split(
        [batch * n, batch * n_border])
    border = border.view(batch, n_border, channels) if n_border else None
    return rows.view(batch, n, channels), border
