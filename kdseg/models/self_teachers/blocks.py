"""The building blocks of the BiFPN self-teachers: PW, SEP, fast normalised fusion and DW1×1.

PW, SEP and the fusion follow the classification reference's ``DepthConvBlock`` (MingiJi/FRSKD,
``models/utils.py``) and the fusion of ``BiFPN_layer`` (``models/bifpnc.py``); the notation is
METHODS.md section 4's. Their convolutions are bias-free (a BatchNorm follows each one). DW1×1 is
the node of the authors' segmentation ``BiFPNSeg`` (``segmentation/utils/BiFPN.py``), whose
depthwise 1×1 convolution keeps ``nn.Conv2d``'s bias. Every BatchNorm has PyTorch's defaults
(eps 1e-5, momentum 0.1), as in both references; the weights keep PyTorch's default
initialisation (neither reference applies one of its own).
"""
from typing import Sequence

import torch
from torch import Tensor, nn

__all__ = [
    'DepthwiseConv1x1Block', 'FastNormalizedFusion', 'PointwiseConvBlock', 'SeparableConvStack'
]


class PointwiseConvBlock(nn.Module):
    """PW(a → b) = ReLU(BN(Conv1×1(x))): (B, a, H, W) → (B, b, H, W).

    The reference's ``DepthConvBlock`` with ``kernel_size=1`` (its ``depth`` argument has no effect
    there). Used for the laterals and for the channel change after each resampling.

    Args:
        in_channels: a.
        out_channels: b.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        # in place: BatchNorm's backward reads its input, not its output
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))


class SeparableConv(nn.Module):
    """One separable unit: [ReLU →] DWConv3×3 → Conv1×1 → BN, (B, d, H, W) → (B, d, H, W).

    Args:
        channels: d.
        pre_activation: start with a ReLU (every unit of a stack but the first).
    """

    def __init__(self, channels: int, pre_activation: bool) -> None:
        super().__init__()
        # in place: the preceding unit ends in a BatchNorm, whose backward does not need its output
        self.relu = nn.ReLU(inplace=True) if pre_activation else nn.Identity()
        self.depthwise = nn.Conv2d(channels, channels, kernel_size=3, padding=1, groups=channels,
                                   bias=False)
        self.pointwise = nn.Conv2d(channels, channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.pointwise(self.depthwise(self.relu(x))))


class SeparableConvStack(nn.Module):
    """SEP(d): ``depth`` separable units, (B, d, H, W) → (B, d, H, W); no ReLU after the last BN.

    With the reference's depth 2::

        SEP(x) = BN(Conv1×1(DWConv3×3(ReLU(BN(Conv1×1(DWConv3×3(x)))))))

    (the reference's ``DepthConvBlock(d, d, 3, 1, 1, depth)``: the depthwise convolutions have
    padding 1 and ``groups=d``).

    Args:
        channels: d.
        depth: the number of separable units. Defaults to 2 (the reference's ``--depth``).
    """

    def __init__(self, channels: int, depth: int = 2) -> None:
        super().__init__()
        self.units = nn.Sequential(
            *(SeparableConv(channels, pre_activation=k > 0) for k in range(depth)))

    def forward(self, x: Tensor) -> Tensor:
        return self.units(x)


class FastNormalizedFusion(nn.Module):
    """EfficientDet's fast normalised fusion of n same-shaped maps.

    ``w = ReLU(θ) / (Σ_k ReLU(θ_k) + ε)``, ``out = Σ_k w_k·x_k`` (summed in input order), with
    θ ∈ Rⁿ initialised to ones and ε = 1e-6, as the reference's ``up_weight`` / ``down_weight``.

    Args:
        num_inputs: n.
        eps: ε. Defaults to 1e-6 (the reference's ``epsilon``).
    """

    def __init__(self, num_inputs: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_inputs))
        self.eps = eps

    def normalized_weights(self) -> Tensor:
        """w: (n,), nonnegative, summing to Σ ReLU(θ) / (Σ ReLU(θ) + ε) ≤ 1."""
        weight = torch.relu(self.weight)
        return weight / (weight.sum() + self.eps)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Σ_k w_k·x_k over the n maps, each (B, d, H, W)."""
        if len(inputs) != self.weight.numel():
            raise ValueError(f'this fusion node has {self.weight.numel()} inputs, '
                             f'got {len(inputs)} maps')
        weights = self.normalized_weights()
        out = weights[0] * inputs[0]
        for k in range(1, len(inputs)):
            out = out + weights[k] * inputs[k]
        return out


class DepthwiseConv1x1Block(nn.Module):
    """DW1×1(d) = ReLU(BN(DWConv1×1(x))): (B, d, H, W) → (B, d, H, W).

    The node of the authors' segmentation ``BiFPNSeg`` (``conv*up`` / ``conv*dw``):
    ``Conv2d(d, d, 1, groups=d)`` (a per-channel scale and bias, ``nn.Conv2d``'s default bias
    kept as the authors have it), ``BatchNorm2d(d)``, ``ReLU``. In training mode BN subtracts
    the batch mean, so the bias gets a zero gradient; it only moves the running mean, which
    cancels it in eval mode.

    Args:
        channels: d.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=1, groups=channels)
        self.bn = nn.BatchNorm2d(channels)
        # in place: BatchNorm's backward reads its input, not its output
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))
