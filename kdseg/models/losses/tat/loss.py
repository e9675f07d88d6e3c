"""Target-aware transformer distillation (Lin et al., CVPR 2022, arXiv 2205.10793)."""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ....registry import register
from .attention import AttentionSSE, EmbeddingNormAttention, NormSpec, no_autocast
from .reference import pool_windows, reference_formulation
from .tiling import (PatchRows, TermGrids, TileGrid, gather_rows, patch_rows, tile_grid,
                     to_device)

__all__ = ['TaTLoss', 'resolve_impl', 'IMPLS']

MODES = ('hierarchical', 'plain', 'patch', 'anchor')
IMPLS = ('auto', 'fused', 'reference')
Pair = Tuple[int, int]


def resolve_impl(impl: str, device: Union[str, torch.device]) -> str:
    """The code path that computes TaTLoss on ``device``: ``'fused'`` or ``'reference'``.

    ``'fused'`` and ``'reference'`` are taken as given; ``'auto'`` takes the path measured faster on
    the device type, as timm's fused-attention flag does: the fused path on CPU, the reference
    formulation on CUDA and on every other device.

    Raises:
        ValueError: ``impl`` is not one of ``'auto'``, ``'fused'``, ``'reference'``.
    """
    if impl not in IMPLS:
        raise ValueError(f'impl must be one of {IMPLS}, got {impl!r}')
    if impl != 'auto':
        return impl
    # Measured (docs/benchmarks.md, "TaTLoss against the naive per-sample formulation"): on a
    # 2-core AMD EPYC CPU the fused path takes 0.73-0.77x the time of the plain autograd
    # formulation in cases a-c (at par in the plain mode, d; 0.54-0.86x of this package's
    # vectorised reference formulation in a smaller check on an Intel Xeon); on an NVIDIA H200 it
    # is 1.1x to 1.9x SLOWER in cases a-d, bound by kernel launches (its written-out backward
    # launches more ops than autograd does for the plain formulation).
    return 'fused' if torch.device(device).type == 'cpu' else 'reference'


def _embedding(in_channels: int, out_channels: int) -> nn.Sequential:
    """TaT embedding: 1×1 conv without bias, then BatchNorm (as the reference's ``Embed``)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
        nn.BatchNorm2d(out_channels))


def _pair(value: Optional[Sequence[int]], name: str) -> Optional[Pair]:
    if value is None:
        return None
    pair = tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f'{name} must be a pair of positive ints (rows, columns), got {value!r}')
    return pair


def _one_of(mode: str, needed: bool, count: Optional[Pair], size: Optional[Pair],
            count_name: str, size_name: str) -> None:
    given = [name for name, v in ((count_name, count), (size_name, size)) if v is not None]
    if needed and len(given) != 1:
        raise ValueError(f"mode='{mode}' needs exactly one of {count_name} and {size_name}, "
                         f'got {given or "neither"}')
    if not needed and given:
        raise ValueError(f"{given[0]} is not used by mode='{mode}'")


def _patches_per_group(mode: str, num_groups: Optional[int], num_patches: Optional[Pair],
                       teacher_channels: int) -> int:
    """p, the patches sharing one attention map, from ``num_groups`` (validated for ``mode``)."""
    if num_groups is None:
        return 1
    if not isinstance(num_groups, int) or num_groups <= 0:
        raise ValueError(f'num_groups must be a positive int, got {num_groups!r}')
    if mode == 'anchor':
        raise ValueError("num_groups is not used by mode='anchor' (anchors use one head)")
    if mode == 'plain':
        if teacher_channels % num_groups:
            raise ValueError(f"num_groups={num_groups} (heads in mode='plain') must divide "
                             f'teacher_channels={teacher_channels}')
        return 1
    if num_patches is None:
        raise ValueError('num_groups needs num_patches (with patch_size the number of patches '
                         'varies with the input; each patch is then its own group, '
                         'num_groups=None)')
    patches = num_patches[0] * num_patches[1]
    if patches % num_groups:
        raise ValueError(f'num_groups={num_groups} must divide the number of patches n·m = '
                         f'{num_patches[0]}×{num_patches[1]} = {patches} (otherwise a group '
                         "would split a patch's channels)")
    return patches // num_groups


@register('tat')
class TaTLoss(nn.Module):
    """Knowledge Distillation via the Target-aware Transformer.

    `Lin et al., CVPR 2022 <https://arxiv.org/abs/2205.10793>`_; the segmentation objective of the
    TaT-seg reference (``distiller_tat.py``). The loss owns its embeddings: query γ and value φ from
    the student (C_s → C_t), key θ from the detached teacher (C_t → C_t), each a 1×1 conv without
    bias followed by BatchNorm2d.

    One-to-all TaT (paper eqs. 4-6), per head of D = C/G channels, positions flattened row-major:
    ``A = softmax_j(γ(S) θ(T)ᵀ)`` (no 1/√D scaling, no temperature), ``O = A φ(S)``,
    ``L = mean((O − T)²)`` against the RAW teacher feature T.

    Hierarchical TaT (paper sec. 3.3, the reference's ``distillation_loss_all``):

    * patch-group distillation: the map is tiled into patches (``num_patches=(n, m)`` gives
      patches of ``⌊H/n⌋ × ⌊W/m⌋``; ``patch_size`` gives them in feature pixels); runs of p
      raster-consecutive patches form a group whose patches are stacked along channels, so one
      (ph·pw) × (ph·pw) attention map is shared by the p patches (its logits sum ⟨q, k⟩ over
      them). L_patch is the MSE over all patches.
    * anchor-point distillation: γ(S), θ(T), φ(S) and T are average-pooled over windows of
      ``⌊H/a_h⌋ × ⌊W/a_w⌋`` (``num_anchors``) or ``anchor_size`` pixels; single-head one-to-all TaT
      over the anchors gives L_anchor.
    * per sample ℓ = β·L_patch + γ·L_anchor; the loss is α·mean over samples of ℓ.

    Modes: ``'hierarchical'`` (β·L_patch + γ·L_anchor), ``'patch'`` (β·L_patch), ``'anchor'``
    (γ·L_anchor), ``'plain'`` (one-to-all over the whole map with G heads; O(N²) memory per head,
    for small maps only). Always multiplied by ``loss_weight``.

    ``reference=True`` is the exact TaT-seg formulation: BatchNorm statistics per sample (the
    reference loops over the batch, so each embedding normalises one sample over its H·W positions
    and its running statistics take B momentum steps per call), floor tiling (trailing rows and
    columns that do not fill a patch or an anchor window are dropped from the attention and the
    MSE, but still count in the BatchNorm statistics, as in the reference).

    The reference's heads when floor tiling gives more patches than n×m (``reference=True``, the
    rule of METHODS.md 1.2): patches of ``⌊H/n⌋ × ⌊W/m⌋`` make a grid of ``⌊H/ph⌋ × ⌊W/pw⌋``
    patches, which exceeds n×m when n or m does not divide the map well (H = 65, W = 66, n = m = 32:
    32×33 patches of 2×2). The reference stacks all of them along channels and splits the stacked
    ``patches·C_t`` channels into ``num_groups`` heads regardless, and so does ``reference=True``:

    * heads of whole patches when ``patches / num_groups`` is whole (then that many patches per
      group, not n·m/G);
    * else, heads of ``patches·C_t / num_groups`` channels that straddle patch boundaries (a key
      is padding for a head when it is padding in every patch the head's channels come from);
    * a ``ValueError`` naming the arguments and the shapes where ``patches·C_t`` is not divisible
      by ``num_groups`` (66×66 with n = m = 32 and G = 1024: 1089·C_t channels), where the
      reference fails.

    With ``reference=False`` (floor or cover tiling) groups stay runs of p = n·m/G patches. With
    ``num_groups=None`` every patch is its own group in both.

    kdseg's default for dense prediction (TaT-seg has no detection or Cityscapes setting):

    * ``bn_stats='batch'``: ordinary BatchNorm statistics over the batch (per-sample statistics give
      a noisier signal and B running-stat steps per call; choose ``'sample'`` to match the
      reference).
    * ``tiling='cover'``: tiles of the same size, plus partial tiles over the remainder, so the
      whole map is distilled. The missing pixels of partial tiles are padding. With sizes that
      divide the map, cover and floor tiling are identical.
    * padding - tile padding, and the padded border of a detection batch (from ``data_samples``
      or ``valid_mask``) - is excluded everywhere: from the BatchNorm statistics, from the MSE
      (its mean runs over valid positions × C_t only), and as keys. Padding positions are zeros in
      the embedded query, key and value, so they add nothing to any logit or output; a key position
      of a patch group is masked out of the softmax when it is padding in every patch of the group.
      Anchor windows average their valid pixels only; windows without one are padding.
      A sample without valid positions contributes 0.

    Two code paths compute the same loss, chosen by ``impl`` (which is not ``reference``: that
    one picks the *semantics*, TaT-seg's or kdseg's; ``impl`` picks the *code* that computes
    them, whatever the semantics):

    * ``'fused'``: the 1×1 convolutions run as matrix products directly on channel-last rows in
      patch-group order (see :mod:`.tiling`), so each group is a contiguous matrix for the
      attention matmuls; BatchNorm and the patch (or plain) attention are fused with a
      hand-written backward (:class:`.attention.EmbeddingNormAttention`) that keeps one copy of
      Q, K, V. Nothing loops over samples or patches. The plain mode materialises its B·G maps of
      N × N, as the straightforward formulation does. Faster and leaner on CPU; on other devices
      it keeps x̂ for every BatchNorm channel (the check of which channels need it would read the
      device's values on the host).
    * ``'reference'``: the reference formulation (:mod:`.reference`): the paper's equations in
      plain torch and autograd, vectorised, fewer (larger) ops: faster on a GPU, where the fused
      path's step is bound by kernel launches.
    * ``'auto'`` (default): per call, from the input's device (:func:`resolve_impl`): fused on
      CPU, reference elsewhere.

    Both use the same parameters and BatchNorm buffers: flipping ``impl`` on a module changes
    neither the values and gradients (to rounding) nor the running-statistics updates. Neither
    synchronises the host with the device in a loss step (the tile layouts are cached per map
    size and device).

    Precision: the loss runs in its parameters' dtype. Under autocast it still runs in float32
    (inputs of a lower precision are cast up, autocast is disabled inside): the logits are
    unscaled sums over p·C_t channels, which float16 / bfloat16 cannot resolve, and the attention's
    denormal cut-off (weights below eps² are dropped) must not move with the autocast dtype. The
    sums of squared errors are accumulated per row and summed in float64 (float32 loss values
    within about 1e-7 of float64). Every BatchNorm weight is handled, 0 included.

    Shapes: student (B, C_s, H, W), teacher (B, C_t, H, W) → scalar.

    Args:
        student_channels: C_s.
        teacher_channels: C_t.
        mode: ``'hierarchical'``, ``'patch'``, ``'anchor'`` or ``'plain'``. Defaults to
            ``'hierarchical'``.
        num_patches: patch grid (n, m) (rows, columns); patches of ⌊H/n⌋ × ⌊W/m⌋ pixels. Exactly
            one of ``num_patches`` and ``patch_size`` for the patch modes. The grid then follows
            the tiling rule: ⌊H/ph⌋ rows (floor, as the reference's ``unfold``; n in every
            reference setting, 33 for H = 100, n = 32) or ⌈H/ph⌉ (cover); groups stay runs of p.
        patch_size: patch size (ph, pw) in feature pixels, for variable map sizes.
        num_groups: patch modes: G, the number of patch groups; needs ``num_patches`` and must
            divide n·m (p = n·m/G patches per group; with ``reference=True`` and more patches
            than n·m, G heads as the reference splits them, see above). None: one group per
            patch. ``'plain'``: G heads, must divide C_t; None: one head.
        num_anchors: anchor grid (a_h, a_w); windows of ⌊H/a_h⌋ × ⌊W/a_w⌋ pixels. Exactly one of
            ``num_anchors`` and ``anchor_size`` for the anchor modes.
        anchor_size: anchor window (kh, kw) in feature pixels.
        patch_weight: β. Defaults to 1.0.
        anchor_weight: γ. Defaults to 1.0.
        loss_weight: α. Defaults to 1.0. Reference settings (α, β, γ, n×m, G, anchors): VOC
            R101→R18 0.1, 1.0, 0.4, 16×16, 64, 32×32; COCO-Stuff-10k R101→R18 0.6, 1.0, 1.0,
            32×32, 512, 32×32.
        reference: the exact TaT-seg formulation (``bn_stats='sample'``, ``tiling='floor'``).
            Defaults to False.
        bn_stats: ``'batch'`` or ``'sample'`` (per-sample BatchNorm statistics). Defaults to
            ``'sample'`` with ``reference=True``, else ``'batch'``.
        tiling: ``'cover'`` or ``'floor'``. Defaults to ``'floor'`` with ``reference=True``, else
            ``'cover'``.
        resize_student: bilinearly resize the student feature to the teacher's H×W when they differ,
            instead of raising. Defaults to False.
        impl: the code path: ``'auto'``, ``'fused'`` or ``'reference'`` (see above; not to be
            confused with ``reference``). Defaults to ``'auto'``.
    """

    def __init__(self,
                 student_channels: int,
                 teacher_channels: int,
                 mode: str = 'hierarchical',
                 num_patches: Optional[Pair] = None,
                 patch_size: Optional[Pair] = None,
                 num_groups: Optional[int] = None,
                 num_anchors: Optional[Pair] = None,
                 anchor_size: Optional[Pair] = None,
                 patch_weight: float = 1.0,
                 anchor_weight: float = 1.0,
                 loss_weight: float = 1.0,
                 reference: bool = False,
                 bn_stats: Optional[str] = None,
                 tiling: Optional[str] = None,
                 resize_student: bool = False,
                 impl: str = 'auto') -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
        for name, value in (('student_channels', student_channels),
                            ('teacher_channels', teacher_channels)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        if reference and bn_stats not in (None, 'sample'):
            raise ValueError(f"reference=True uses bn_stats='sample', got bn_stats={bn_stats!r}")
        if reference and tiling not in (None, 'floor'):
            raise ValueError(f"reference=True uses tiling='floor', got tiling={tiling!r}")
        bn_stats = bn_stats or ('sample' if reference else 'batch')
        tiling = tiling or ('floor' if reference else 'cover')
        if bn_stats not in ('batch', 'sample'):
            raise ValueError(f"bn_stats must be 'batch' or 'sample', got {bn_stats!r}")
        if tiling not in ('cover', 'floor'):
            raise ValueError(f"tiling must be 'cover' or 'floor', got {tiling!r}")
        num_patches = _pair(num_patches, 'num_patches')
        patch_size = _pair(patch_size, 'patch_size')
        num_anchors = _pair(num_anchors, 'num_anchors')
        anchor_size = _pair(anchor_size, 'anchor_size')
        uses_patches = mode in ('hierarchical', 'patch')
        uses_anchors = mode in ('hierarchical', 'anchor')
        _one_of(mode, uses_patches, num_patches, patch_size, 'num_patches', 'patch_size')
        _one_of(mode, uses_anchors, num_anchors, anchor_size, 'num_anchors', 'anchor_size')
        self.patches_per_group = _patches_per_group(mode, num_groups, num_patches,
                                                    teacher_channels)
        resolve_impl(impl, 'cpu')  # a ValueError naming impl now, not at the first step

        self.student_channels = student_channels
        self.teacher_channels = teacher_channels
        self.mode = mode
        self.num_patches = num_patches
        self.patch_size = patch_size
        self.num_groups = num_groups
        self.num_anchors = num_anchors
        self.anchor_size = anchor_size
        self.patch_weight = patch_weight
        self.anchor_weight = anchor_weight
        self.loss_weight = loss_weight
        self.reference = reference
        self.bn_stats = bn_stats
        self.tiling = tiling
        self.resize_student = resize_student
        self.impl = impl

        self.query = _embedding(student_channels, teacher_channels)
        self.key = _embedding(teacher_channels, teacher_channels)
        self.value = _embedding(student_channels, teacher_channels)

    def extra_repr(self) -> str:
        names = ('student_channels', 'teacher_channels', 'mode', 'num_patches', 'patch_size',
                 'num_groups', 'num_anchors', 'anchor_size', 'patch_weight', 'anchor_weight',
                 'loss_weight', 'reference', 'bn_stats', 'tiling', 'resize_student', 'impl')
        return ', '.join(f'{n}={getattr(self, n)!r}' for n in names)

    def forward(self, student: Tensor, teacher: Tensor, data_samples: Optional[Sequence] = None,
                valid_mask: Optional[Tensor] = None) -> Tensor:
        """The TaT loss, already multiplied by ``loss_weight``.

        Args:
            student: (B, C_s, H, W) student feature.
            teacher: (B, C_t, H, W) teacher feature (detached here).
            data_samples: mmdet / mmseg data samples whose metainfo ``img_shape`` (h, w) and
                ``batch_input_shape`` (H_in, W_in) mark the padded border of the batch: feature
                rows ``≥ ⌈h·H/H_in⌉`` and columns ``≥ ⌈w·W/W_in⌉`` are padding.
            valid_mask: (B, H, W) or (B, 1, H, W) bool, True at valid feature positions; instead of
                ``data_samples``.
        """
        student = self._match_student(student, teacher)
        # float32 (the parameters' dtype) under autocast, too: see the class docstring
        dtype = self.query[0].weight.dtype
        device = teacher.device
        with no_autocast(device.type):
            student, teacher = student.to(dtype), teacher.detach().to(dtype)
            batch, _, height, width = teacher.shape
            valid = self._valid_pixels(teacher, data_samples, valid_mask)
            self._check_statistics(batch, height * width)
            if resolve_impl(self.impl, device) == 'reference':
                return reference_formulation(self, student, teacher, valid)
            return self._fused_loss(student, teacher, valid)

    def term_grids(self, map_size: Pair) -> TermGrids:
        """The tiles of each term on an (H, W) feature map, as both code paths use them.

        Patch modes: the patch grid of the tiling rule, p patches per group and one head (the
        reference's heads with ``reference=True`` and more patches than n·m, see
        :meth:`_reference_heads`). ``'plain'``: one patch of the whole map, p = 1, G heads.
        Anchor modes: the anchor grid.
        """
        height, width = map_size
        cover = self.tiling == 'cover'
        patch, patches_per_group, heads, anchor = None, 1, 1, None
        if self.mode in ('hierarchical', 'patch'):
            patch = tile_grid((height, width), self.num_patches, self.patch_size, cover,
                              'num_patches' if self.num_patches else 'patch_size')
            patches_per_group, heads = self._reference_heads(patch, (height, width))
        elif self.mode == 'plain':
            patch, heads = TileGrid(tile=(height, width), grid=(1, 1)), self.num_groups or 1
        if self.mode in ('hierarchical', 'anchor'):
            anchor = tile_grid((height, width), self.num_anchors, self.anchor_size, cover,
                               'num_anchors' if self.num_anchors else 'anchor_size')
        return TermGrids(patch, patches_per_group, heads, anchor)

    def _fused_loss(self, student: Tensor, teacher: Tensor, valid: Optional[Tensor]) -> Tensor:
        """The fused path (``impl='fused'``, see the class docstring); ``valid`` (B, H, W) bool
        valid pixels or None."""
        batch, _, height, width = teacher.shape
        grids = self.term_grids((height, width))
        if grids.patch is not None:
            layout = patch_rows((height, width), grids.patch, grids.patches_per_group,
                                teacher.device, teacher.dtype)
        else:  # anchor-only: every pixel once, raster order, in one group (for the statistics)
            layout = patch_rows((height, width), TileGrid((height, width), (1, 1)), 1,
                                teacher.device, teacher.dtype)
        valid_rows, scored_rows = self._row_masks(layout, valid, batch)
        # channels-last copies: rows are then gathered whole, and the student's gradients from
        # the patch rows and from the anchor pooling arrive in the same layout
        s_cl, t_cl = (x.contiguous(memory_format=torch.channels_last) for x in (student, teacher))
        anchors = None
        if grids.anchor is not None:
            anchors = self._pool_anchors(s_cl, t_cl, valid, grids.anchor)
        s_rows, t_rows = gather_rows(s_cl, layout), gather_rows(t_cl, layout)
        del t_cl

        embeddings = []
        for module, rows in ((self.query, s_rows), (self.key, t_rows), (self.value, s_rows)):
            embeddings += [rows @ module[0].weight.flatten(1).t(), module[1].weight,
                           module[1].bias]
        spec = NormSpec(norms=(self.query[1], self.key[1], self.value[1]),
                        per_sample=self.bn_stats == 'sample',
                        groups=(layout.num_groups, layout.positions, layout.patches_per_group),
                        heads=grids.heads)
        attends = grids.patch is not None
        sse, q, k, v, *stats = EmbeddingNormAttention.apply(
            spec, valid_rows, scored_rows, t_rows if attends else None, *embeddings)

        # MSE means run over the scored positions × C_t of each sample
        elements = self.teacher_channels * (
            layout.num_scored if scored_rows is None else scored_rows.sum((1, 2)).clamp(min=1))
        per_sample = 0
        if self.mode == 'plain':
            per_sample = sse / elements
        elif attends:
            per_sample = self.patch_weight * sse / elements
        if anchors is not None:
            per_sample = per_sample + self.anchor_weight * self._anchor_loss(*anchors, stats)
        return self.loss_weight * per_sample.mean()

    def _reference_heads(self, grid: TileGrid, map_size: Pair) -> Tuple[int, int]:
        """(patches per group, heads per group) of the patch layout.

        The configured p = n·m/G patches per group and one head, except with ``reference=True``
        when floor tiling gives more patches than n·m: the reference then splits all stacked
        patches' channels into G heads (see the class docstring), so p = patches/G when that is
        whole, else one group of all patches split into G heads that straddle patches.
        """
        configured = (self.patches_per_group, 1)
        if not self.reference or self.num_groups is None:
            return configured
        n, m = self.num_patches
        if grid.num_tiles == n * m:
            return configured
        heads, channels = self.num_groups, self.teacher_channels
        stacked = grid.num_tiles * channels
        if stacked % heads:
            rows, cols = grid.grid
            raise ValueError(
                f'reference=True with num_patches={self.num_patches} and '
                f'num_groups={heads}: on the {map_size[0]}×{map_size[1]} feature map floor '
                f'tiling makes patches of {grid.tile[0]}×{grid.tile[1]} pixels, so '
                f'{rows}×{cols} = {grid.num_tiles} patches × {channels} channels = {stacked} '
                f'stacked channels, which the reference splits into num_groups heads; '
                f'{stacked} is not divisible by {heads} (the TaT-seg reference fails here). Use '
                f'a feature size that n, m divide, a num_groups that divides {stacked}, or '
                f'reference=False (kdseg keeps groups of n·m/G = {self.patches_per_group} '
                'patches)')
        width = stacked // heads
        if width % channels == 0:
            return width // channels, 1
        return grid.num_tiles, heads

    @staticmethod
    def _pool_anchors(student: Tensor, teacher: Tensor, valid: Optional[Tensor], grid: TileGrid
                      ) -> Tuple[Tensor, Tensor, Optional[Tensor], int]:
        """Anchor rows (B, A, C) of the student and the teacher, their validity (B, A, 1) and
        the anchor count."""
        def rows(x: Tensor) -> Tensor:
            return x.permute(0, 2, 3, 1).flatten(1, 2)

        pooled_s, anchor_valid = pool_windows(student, grid, valid)
        pooled_t, _ = pool_windows(teacher, grid, valid)
        return (rows(pooled_s), rows(pooled_t),
                None if anchor_valid is None else rows(anchor_valid), grid.num_tiles)

    def _anchor_loss(self, pooled_s: Tensor, pooled_t: Tensor, anchor_valid: Optional[Tensor],
                     num_anchors: int, stats: Sequence[Tensor]) -> Tensor:
        """Per-sample L_anchor (B,).

        Pooling commutes with the 1×1 convolution and with BatchNorm's per-channel affine map, so
        embedding the pooled inputs with the full map's statistics equals pooling the embedded full
        map, as the reference does, at a fraction of the cost.
        """
        anchors = []
        for i, (module, x) in enumerate(((self.query, pooled_s), (self.key, pooled_t),
                                         (self.value, pooled_s))):
            mean, rstd = stats[2 * i], stats[2 * i + 1]
            scale = rstd * module[1].weight
            y = torch.addcmul(module[1].bias - mean * scale, x @ module[0].weight.flatten(1).t(),
                              scale)
            anchors.append(y if anchor_valid is None else y * anchor_valid)
        sse = AttentionSSE.apply(*anchors, pooled_t, anchor_valid)
        count = num_anchors if anchor_valid is None else anchor_valid.sum((1, 2)).clamp(min=1)
        return sse / (count * self.teacher_channels)

    def _match_student(self, student: Tensor, teacher: Tensor) -> Tensor:
        for name, x, channels in (('student', student, self.student_channels),
                                  ('teacher', teacher, self.teacher_channels)):
            if x.dim() != 4:
                raise ValueError(f'TaTLoss expects (B, C, H, W) features; the {name} feature has '
                                 f'shape {tuple(x.shape)}')
            if x.shape[1] != channels:
                raise ValueError(f'{name}_channels={channels}, but the {name} feature has '
                                 f'{x.shape[1]} channels (shape {tuple(x.shape)})')
        if student.shape[0] != teacher.shape[0]:
            raise ValueError(f'student and teacher batch sizes differ: {tuple(student.shape)} vs '
                             f'{tuple(teacher.shape)}')
        if student.shape[-2:] != teacher.shape[-2:]:
            if not self.resize_student:
                raise ValueError(
                    f'student feature {tuple(student.shape)} and teacher feature '
                    f'{tuple(teacher.shape)} differ in H×W; set resize_student=True to resize the '
                    'student bilinearly to the teacher')
            student = F.interpolate(student, size=teacher.shape[-2:], mode='bilinear',
                                    align_corners=False)
        return student

    def _check_statistics(self, batch: int, positions: int) -> None:
        per_group = positions if self.bn_stats == 'sample' else batch * positions
        if self.training and per_group == 1:
            raise ValueError(
                f"TaTLoss embeddings: BatchNorm statistics over a single value per channel "
                f"(bn_stats='{self.bn_stats}', batch {batch}, {positions} positions); "
                "PyTorch's BatchNorm refuses this in training mode too")

    @staticmethod
    def _valid_pixels(teacher: Tensor, data_samples: Optional[Sequence],
                      valid_mask: Optional[Tensor]) -> Optional[Tensor]:
        """(B, H, W) bool mask of valid feature positions, or None when all are valid."""
        batch, _, height, width = teacher.shape
        if valid_mask is not None:
            if data_samples is not None:
                raise ValueError('give data_samples or valid_mask, not both')
            mask = valid_mask.squeeze(1) if valid_mask.dim() == 4 else valid_mask
            if tuple(mask.shape) != (batch, height, width) or (
                    valid_mask.dim() == 4 and valid_mask.shape[1] != 1):
                raise ValueError(f'valid_mask must be (B, H, W) or (B, 1, H, W) = '
                                 f'{(batch, height, width)} at the feature size, got '
                                 f'{tuple(valid_mask.shape)}')
            return mask.to(device=teacher.device, dtype=torch.bool)
        if data_samples is None:
            return None
        if len(data_samples) != batch:
            raise ValueError(f'{len(data_samples)} data_samples for a batch of {batch}')
        limits = []
        for sample in data_samples:
            meta = sample.metainfo
            for key in ('img_shape', 'batch_input_shape'):
                if key not in meta:
                    raise ValueError(f"data_samples metainfo lacks '{key}' (needed to mask the "
                                     'padded border of the batch)')
            (h, w), (in_h, in_w) = meta['img_shape'][:2], meta['batch_input_shape'][:2]
            limits.append((math.ceil(h * height / in_h), math.ceil(w * width / in_w)))
        if all(rows >= height and cols >= width for rows, cols in limits):
            return None
        limits = to_device(torch.tensor(limits), teacher.device)  # no synchronising copy
        rows_ok = torch.arange(height, device=teacher.device) < limits[:, :1]
        cols_ok = torch.arange(width, device=teacher.device) < limits[:, 1:]
        return rows_ok[:, :, None] & cols_ok[:, None, :]

    @staticmethod
    def _row_masks(layout: PatchRows, valid: Optional[Tensor], batch: int
                   ) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        """(B, N, 1) float masks of the rows in the statistics (real, valid pixels) and of the
        rows the loss scores (valid pixels inside a patch); None where every row qualifies."""
        if valid is None:
            rows = layout.valid_weight if layout.has_padding else None
            scored = (layout.scored_weight if layout.has_padding or layout.has_border else None)
            return tuple(None if m is None else m.expand(batch, -1).unsqueeze(-1)
                         for m in (rows, scored))
        pixels = valid.flatten(1)[:, layout.index].to(layout.valid_weight.dtype)
        return tuple((pixels * m).unsqueeze(-1)
                     for m in (layout.valid_weight, layout.scored_weight))
