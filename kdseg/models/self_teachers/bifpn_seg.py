"""FRSKD's segmentation self-teacher, the authors' ``BiFPNSeg`` stack (Ji et al., CVPR 2021,
arXiv 2103.08273)."""
from typing import Optional, Sequence, Tuple

from torch import Tensor, nn

from ...registry import register
from .blocks import DepthwiseConv1x1Block, PointwiseConvBlock
from .pyramid import check_pyramid
from .resample import resize_to

__all__ = ['BiFPNSegLayer', 'BiFPNSegSelfTeacher']


def _positive_int(name: str, value: object) -> int:
    # bool is an int in Python: `True` is a config slip, not the number 1
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return value


class BiFPNSegLayer(nn.Module):
    """One ``BiFPNSeg`` layer of the authors' segmentation code over L levels of width d.

    Levels i = 0 … L−1 go fine to coarse, X_i: (B, d, H_i, W_i). Every node is
    DW1×1(x) = ReLU(BN(DWConv1×1(x))) (:class:`.blocks.DepthwiseConv1x1Block`); the fusion is a
    plain sum (no fusion weights), summed left to right as written::

        top-down     U_{L−1} = DW_up,L−1(X_{L−1})
                     U_i     = DW_up,i(X_i + up(U_{i+1}, H_i×W_i))              i = L−2 … 0
        bottom-up    O_0     = U_0
                     O_i     = DW_down,i(X_i + U_i + down(O_{i−1}, H_i×W_i))    i = 1 … L−1
        outputs      (O_0, …, O_{L−1}), or (U_0, …, U_{L−1}) with ``top_down_only``

    ``up`` is bilinear interpolation (``align_corners=False``) and ``down`` nearest
    interpolation, both to the exact target size and the identity between equal sizes
    (:func:`.resample.resize_to`). The coarsest bottom-up node sums three maps (X, U and the
    downsampled O), unlike the classification BiFPNc's two.

    Parameter names, against the authors' six-level ``BiFPNSeg`` (P2 … P7 = levels 0 … 5):
    ``up[i]`` = ``conv{i+2}up``, ``down[i−1]`` = ``conv{i+2}dw``.

    Args:
        channels: d.
        num_levels: L, at least two.
        top_down_only: the authors' ``is_last``: no bottom-up path, and the outputs are the
            top-down nodes U_i.
    """

    def __init__(self, channels: int, num_levels: int, top_down_only: bool = False) -> None:
        super().__init__()
        self.top_down_only = top_down_only
        self.up = nn.ModuleList(DepthwiseConv1x1Block(channels) for _ in range(num_levels))
        self.down = nn.ModuleList() if top_down_only else nn.ModuleList(
            DepthwiseConv1x1Block(channels) for _ in range(num_levels - 1))

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """(X_0, …, X_{L−1}) → L maps of the same shapes, (B, d, H_i, W_i)."""
        levels = len(inputs)
        sizes = [tuple(x.shape[2:]) for x in inputs]
        up = [None] * levels
        up[-1] = self.up[-1](inputs[-1])
        for i in range(levels - 2, -1, -1):
            up[i] = self.up[i](inputs[i] + resize_to(up[i + 1], sizes[i], 'bilinear'))
        if self.top_down_only:
            return tuple(up)
        out = [up[0]]
        for i in range(1, levels):
            out.append(self.down[i - 1](
                inputs[i] + up[i] + resize_to(out[i - 1], sizes[i], 'nearest')))
        return tuple(out)


@register('frskd')
class BiFPNSegSelfTeacher(nn.Module):
    """FRSKD's self-teacher as the authors built it for segmentation: stacked ``BiFPNSeg`` layers.

    `Refine Myself by Teaching Myself: Feature Refinement via Self-Knowledge Distillation
    <https://arxiv.org/abs/2103.08273>`_ (Ji, Shin, Hwang, Park, Moon, CVPR 2021). The reference
    is the authors' VOC segmentation code (MingiJi/FRSKD, ``segmentation/utils/BiFPN.py`` and
    ``segmentation/utils/efficientdet.py``): the student is an EfficientDet-style network whose
    own neck (three ``BiFPNSeg`` layers) gives P2 … P7 at 64 channels (EfficientNet-B0); the
    self-teacher ``BiFPN2 = [BiFPNSeg(64), BiFPNSeg(64, is_last=True)]`` refines those six levels,
    and its head ``classifier2`` is a copy of the student's ``classifier1`` design, reading the
    finest refined level. Design notes: METHODS.md section 4.

    Levels i = 0 … L−1 go fine to coarse, F_i: (B, c_i, H_i, W_i); d is the common width::

        X⁰_i = F_i                      where c_i = d (the authors': their levels share a width)
        X⁰_i = PW_i(F_i)                where c_i ≠ d; PW = ReLU(BN(Conv1×1, no bias)), c_i → d
        Xᵏ⁺¹ = BiFPNSeg_k(Xᵏ)            k = 0 … K−2, top-down then bottom-up
        T    = BiFPNSeg_{K−1}(X^{K−1})  the last layer top-down only: T_i = U_i
        outputs T_i: (B, d, H_i, W_i)

    (one layer: :class:`BiFPNSegLayer`, whose docstring has U_i and the nodes' equations).

    What is the authors' (followed exactly; ``tests/test_models/test_self_teachers/
    reference_seg.py`` is an independent float64 formulation of their code):

    * K = 2 layers, the last one top-down only (``is_last``: it returns P2_out, P3_up … P7_up);
    * every node DW1×1 = depthwise ``Conv2d(d, d, 1, groups=d)`` with its bias → BN (PyTorch's
      defaults) → ReLU, instead of the classification BiFPNc's separable-conv stacks;
    * plain-sum fusion, no fusion weights; the top-down node of the coarsest level reads that
      level alone; the bottom-up nodes sum (lateral input, top-down node, downsampled output),
      the coarsest included; the finest level has no bottom-up node (O_0 = U_0);
    * width 1: the refined levels have the input's width, no expansion;
    * upsampling bilinear (``nn.Upsample(mode='bilinear')``, ``align_corners`` left at its
      default False), downsampling nearest (``F.interpolate`` at its default mode);
    * no ReLU on the inputs (theirs are ReLU outputs already) and none after the outputs (each
      node ends in one).

    kdseg's adaptations (the authors' code has none of this):

    * L levels, any L ≥ 2 (theirs: six, P2 … P7), and K ≥ 1 layers;
    * laterals PW_i where the student's levels differ in width from d (a PSPNet's backbone
      stages: 64 … 512 for R18); none where c_i = d (an FPN's outputs), which is the authors'
      case exactly;
    * resampling to each level's exact size, the identity between levels of equal size (a
      dilated ResNet's stages 2-4). The authors upsample with ``scale_factor = W_i / W_{i+1}``
      (the width ratio, for both dimensions); where the height ratio is the same (every pyramid
      theirs runs on: P2 … P7 of a square crop halve exactly), this is the same interpolation.

    Shapes: features (F_0, …, F_{L−1}), F_i: (B, c_i, H_i, W_i) with H_i ≤ H_{i−1} and
    W_i ≤ W_{i−1} → (T_0, …, T_{L−1}), each (B, d, H_i, W_i).

    Args:
        in_channels: (c_0, …, c_{L−1}), the channels of the student's levels, fine to coarse; at
            least two levels.
        channels: d, the common width. Default: the in_channels, which must then all be equal
            (the authors' setting: no laterals).
        num_layers: K, the number of stacked layers, the last one top-down only. Defaults to 2
            (the authors').
    """

    def __init__(self, in_channels: Sequence[int], channels: Optional[int] = None,
                 num_layers: int = 2) -> None:
        super().__init__()
        if isinstance(in_channels, (str, bytes)) or not isinstance(in_channels, Sequence):
            raise ValueError('in_channels must be a sequence of positive ints (one per level, '
                             f'fine to coarse), got {in_channels!r}')
        widths = tuple(_positive_int(f'in_channels[{i}]', c) for i, c in enumerate(in_channels))
        if len(widths) < 2:
            raise ValueError('in_channels must list at least two levels (a BiFPN fuses levels), '
                             f'got {in_channels!r}')
        if channels is None:
            if len(set(widths)) != 1:
                raise ValueError(f'in_channels={widths} differ; set channels, the common width '
                                 'the self-teacher refines them at (a lateral 1x1 maps every '
                                 'other level to it)')
            channels = widths[0]
        self.channels = _positive_int('channels', channels)
        self.num_layers = _positive_int('num_layers', num_layers)
        self.in_channels = widths
        self.laterals = nn.ModuleList(
            nn.Identity() if c == channels else PointwiseConvBlock(c, channels) for c in widths)
        self.layers = nn.ModuleList(
            BiFPNSegLayer(channels, len(widths), top_down_only=k == num_layers - 1)
            for k in range(num_layers))

    @property
    def num_levels(self) -> int:
        return len(self.in_channels)

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """(d, …, d): the channels of the refined levels."""
        return (self.channels, ) * self.num_levels

    def _check_features(self, features: Sequence[Tensor]) -> None:
        check_pyramid(features, self.in_channels, type(self).__name__, 'fine to coarse')

    def forward(self, features: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """(F_0, …, F_{L−1}) → (T_0, …, T_{L−1}).

        F_i: (B, c_i, H_i, W_i), fine to coarse; T_i: (B, d, H_i, W_i).
        """
        self._check_features(features)
        x = tuple(lateral(f) for lateral, f in zip(self.laterals, features))
        for layer in self.layers:
            x = layer(x)
        return x
