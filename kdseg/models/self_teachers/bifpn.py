"""FRSKD's BiFPN self-teacher (Ji et al., CVPR 2021, arXiv 2103.08273)."""
from typing import Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from ...registry import register
from .blocks import FastNormalizedFusion, PointwiseConvBlock, SeparableConvStack
from .pyramid import check_pyramid
from .resample import downsample_to, upsample_to

__all__ = ['BiFPNSelfTeacher']


def _positive_int(name: str, value: object) -> int:
    # bool is an int in Python: `True` is a config slip, not the number 1
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return value


@register('frskd')
class BiFPNSelfTeacher(nn.Module):
    """FRSKD's self-teacher: a one-layer BiFPN (``BiFPNc``) that refines the student's levels.

    `Refine Myself by Teaching Myself: Feature Refinement via Self-Knowledge Distillation
    <https://arxiv.org/abs/2103.08273>`_ (Ji, Shin, Hwang, Park, Moon, CVPR 2021). The reference is
    the authors' ``BiFPNc`` (MingiJi/FRSKD, ``models/bifpnc.py`` and ``models/utils.py``) with its
    defaults (``--repeat 1 --depth 2 --width 2``); the design notes are METHODS.md section 4.

    Levels i = 0 … L−1 go shallow to deep, F_i: (B, c_i, H_i, W_i); level i is refined at width
    d_i = w·c_i. PW(a→b) = ReLU(BN(Conv1×1)) and SEP(d) = [DWConv3×3 → Conv1×1 → BN] then
    ``depth − 1`` times [ReLU → DWConv3×3 → Conv1×1 → BN] (:mod:`.blocks`); every fusion node
    ``fuse`` has its own weights θ (init ones), w = ReLU(θ) / (Σ ReLU(θ) + 1e-6), and returns
    Σ_k w_k·x_k::

        lat_i  = PW_td,i(ReLU(F_i))                          c_i → d_i, every level
        lat'_i = PW_bu,i(ReLU(F_i))                          c_i → d_i, levels 1 … L−1
        up_i   = PW_up,i(up(ReLU(P_{i+1}), H_i×W_i))         d_{i+1} → d_i
        down_i = PW_down,i(down(ReLU(T_{i−1}), H_i×W_i))     d_{i−1} → d_i

        top-down    P_{L−1} = lat_{L−1}
                    P_i = SEP_td,i(fuse(lat_i, up_i))                    i = L−2 … 0
        bottom-up   T_0 = P_0
                    T_i = SEP_bu,i(fuse(lat'_i, ReLU(P_i), down_i))      0 < i < L−1
                    T_{L−1} = SEP_bu,L−1(fuse(lat'_{L−1}, down_{L−1}))
        outputs     ReLU(T_i): (B, d_i, H_i, W_i)

    The PWs after a resampling change the channels at the target's resolution (after the
    upsampling, after the max pool), as in the reference. The reference also writes ReLU(lat_i),
    ReLU(lat'_i) and ReLU(P_{L−1}); a PW ends in a ReLU, so those are the identity (in value and
    in gradient) and are left out.

    Resampling (:mod:`.resample`), kdseg's generalisation: ``up`` is the identity when the sizes
    are equal and nearest interpolation to the exact size otherwise; ``down`` is, per dimension,
    nothing when the sizes are equal and the reference's 3×3 stride-2 "same" max pool when the
    target is ⌈n/2⌉, with ``adaptive_max_pool2d`` to the exact size for any other ratio. In the
    reference's setting, every level half the previous one (H_i = 2·H_{i+1}, W_i = 2·W_{i+1}, the
    only pyramids its ×2 upsampling fits), these are its ``Upsample(scale_factor=2,
    mode='nearest')`` and ``MaxPool2dStaticSamePadding(3, 2)``, so the module computes exactly the
    reference's function; where levels share a size (a dilated ResNet's stages 2-4) no resampling
    happens between them, and sizes that are not powers of two (7×10 under 13×19 under 25×38)
    work too.

    Where METHODS.md and the reference code differ, or METHODS.md is silent (the reference is
    followed in every case; it produced the published numbers):

    * Upsampling mode: nearest (METHODS.md: "up×2").
    * "Same" max pool: kernel 3, stride 2, padding ``extra = (⌈n/2⌉ − 1)·2 − n + 3`` split as
      (⌊extra/2⌋ before, the rest after), i.e. (0, 1) on even sizes and (1, 1) on odd ones; the
      output is ⌈n/2⌉. ``nn.MaxPool2d(3, 2, padding=1)`` would give the same size on even inputs
      but windows shifted by one pixel. The reference pads with zeros, kdseg with −∞: the same
      values and gradients, since the pooled map is a ReLU output (see :func:`.downsample_to`).
    * Channel maps: the lateral PWs map c_i → w·c_i on ReLU(F_i); the PW after the upsampling maps
      d_{i+1} → d_i and the one after the max pool d_{i−1} → d_i (METHODS.md does not say).
    * Laterals: METHODS.md says two lateral PWs "per level"; level 0 has only the top-down one
      (T_0 = P_0 has no fusion node), so there are 2L − 1.
    * Convolutions have no bias; BatchNorms have PyTorch's defaults (eps 1e-5, momentum 0.1); the
      weights keep PyTorch's default initialisation; the fusion sums in the order written above.
    * SEP depth: the reference's ``--depth`` (default 2) sets the number of separable units of
      every SEP; METHODS.md fixes it at 2. Exposed as ``depth``. (The reference also passes a
      lateral depth to its 1×1 blocks, where it has no effect.)
    * Repeats: the reference's ``--repeat`` stacks BiFPN layers, but for ``repeat > 1`` with
      ``width ≠ 1`` its second layer's ``lat_conv2`` expects c_i input channels and gets w·c_i, so
      only ``repeat = 1`` (its default) runs; this module is that one layer.
    * The reference's ``forward(preact=True)`` returns T_i before the final ReLU (for its
      overhaul-distillation option); FRSKD's attention loss uses the ReLU outputs, the only
      outputs here.
    * The reference's classifier head (global average pooling of ReLU(T_{L−1}) and a linear
      layer) and its ``num_features`` (keep the last levels) belong to the caller.

    Parameter names, against the reference's: ``lateral_td[i]`` = ``lat_conv[i]``,
    ``lateral_bu[i−1]`` = ``lat_conv2[i−1]``, ``up_pw[i]`` = ``up_sample[i][1]``,
    ``td_fusion[i].weight`` = ``up_weight[i]``, ``td_sep[i]`` = ``up_conv[i]``, ``down_pw[i−1]`` =
    ``down_sample[i−1][1]``, ``bu_fusion[i−1].weight`` = ``down_weight[i−1]``, ``bu_sep[i−1]`` =
    ``down_conv[i−1]``; the ``td_*`` lists are indexed by the level they produce (0 … L−2), the
    ``bu_*`` lists and ``lateral_bu`` by that level minus one (levels 1 … L−1).

    Shapes: features (F_0, …, F_{L−1}), F_i: (B, c_i, H_i, W_i) with H_i ≤ H_{i−1} and
    W_i ≤ W_{i−1} → (ReLU(T_0), …, ReLU(T_{L−1})), each (B, w·c_i, H_i, W_i).

    Args:
        in_channels: (c_0, …, c_{L−1}), the channels of the student's levels, shallow to deep;
            at least two levels.
        width: w, the width factor: level i is refined with w·c_i channels. Defaults to 2 (the
            reference's ``--width``).
        depth: the number of separable units in each SEP. Defaults to 2 (the reference's
            ``--depth``).
    """

    def __init__(self, in_channels: Sequence[int], width: int = 2, depth: int = 2) -> None:
        super().__init__()
        if isinstance(in_channels, (str, bytes)) or not isinstance(in_channels, Sequence):
            raise ValueError('in_channels must be a sequence of positive ints (one per level, '
                             f'shallow to deep), got {in_channels!r}')
        channels = tuple(_positive_int(f'in_channels[{i}]', c) for i, c in enumerate(in_channels))
        if len(channels) < 2:
            raise ValueError('in_channels must list at least two levels (a BiFPN fuses levels), '
                             f'got {in_channels!r}')
        self.width = _positive_int('width', width)
        self.depth = _positive_int('depth', depth)
        self.in_channels = channels
        self.out_channels = tuple(width * c for c in channels)
        d = self.out_channels
        levels = len(channels)

        self.lateral_td = nn.ModuleList(PointwiseConvBlock(c, w) for c, w in zip(channels, d))
        self.lateral_bu = nn.ModuleList(
            PointwiseConvBlock(channels[i], d[i]) for i in range(1, levels))

        self.up_pw = nn.ModuleList(PointwiseConvBlock(d[i + 1], d[i]) for i in range(levels - 1))
        self.td_fusion = nn.ModuleList(FastNormalizedFusion(2) for _ in range(levels - 1))
        self.td_sep = nn.ModuleList(SeparableConvStack(d[i], depth) for i in range(levels - 1))

        self.down_pw = nn.ModuleList(PointwiseConvBlock(d[i - 1], d[i]) for i in range(1, levels))
        # the top node has no top-down input: (lat', down) only
        self.bu_fusion = nn.ModuleList(
            FastNormalizedFusion(3 if i < levels - 1 else 2) for i in range(1, levels))
        self.bu_sep = nn.ModuleList(SeparableConvStack(d[i], depth) for i in range(1, levels))

    @property
    def num_levels(self) -> int:
        return len(self.in_channels)

    def _check_features(self, features: Sequence[Tensor]) -> None:
        check_pyramid(features, self.in_channels, type(self).__name__, 'shallow to deep')

    def forward(self, features: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """(F_0, …, F_{L−1}) → (ReLU(T_0), …, ReLU(T_{L−1})).

        F_i: (B, c_i, H_i, W_i), shallow to deep; output i: (B, w·c_i, H_i, W_i).
        """
        self._check_features(features)
        levels = self.num_levels
        sizes = [tuple(f.shape[2:]) for f in features]
        # ReLU(F_i) feeds both laterals; not in place, the student still needs F_i
        activated = [F.relu(f) for f in features]

        # top-down; relu_p[i] = ReLU(P_i), which both the next top-down node and T_i read
        relu_p = [None] * levels
        relu_p[-1] = self.lateral_td[-1](activated[-1])
        for i in range(levels - 2, -1, -1):
            lateral = self.lateral_td[i](activated[i])
            deeper = self.up_pw[i](upsample_to(relu_p[i + 1], sizes[i]))
            p = self.td_sep[i](self.td_fusion[i]((lateral, deeper)))
            relu_p[i] = F.relu(p, inplace=True)  # P_i (a BatchNorm output) is not needed itself

        # bottom-up; outputs[i] = ReLU(T_i), both the output and the next node's input
        outputs = [relu_p[0]]
        for i in range(1, levels):
            lateral = self.lateral_bu[i - 1](activated[i])
            shallower = self.down_pw[i - 1](downsample_to(outputs[i - 1], sizes[i]))
            inputs = (lateral, relu_p[i], shallower) if i < levels - 1 else (lateral, shallower)
            t = self.bu_sep[i - 1](self.bu_fusion[i - 1](inputs))
            outputs.append(F.relu(t, inplace=True))
        return tuple(outputs)
