"""ABF, the attention-based fusion module of knowledge review, fused with HCL in one autograd node.

One ABF per student level (Chen et al., CVPR 2021, sec. 3.2; the authors' ``ABF``), channels
C_s → mid → C_t, student feature F (B, C_s, H, W)::

    x     = BN₁(Conv1×1(F))                                   (B, mid, H, W), no bias
    y     = nearest-upsample(fused of the deeper level) to exactly H×W    (deepest level: none)
    a     = σ(Conv1×1([x, y]) + b)                            (B, 2, H, W), two sigmoids
    fused = x·a₀ + y·a₁            (fused = x at the deepest level)
    out   = BN₂(Conv3×3(fused, pad 1))                        (B, C_t, H, W), no bias, no ReLU

``fused`` flows to the next shallower level; ``out`` is compared with the teacher by HCL (.hcl).

:class:`ABFFunction` computes one level's HCL(out, T) and ``fused`` with a written-out backward,
so that it keeps only three maps per level for the backward pass: the BN₁ input, ``fused`` (also
the shallower level's input) and the BN₂ input; x, y, out and D = out − T are recomputed, and the
two maps it holds as ctx attributes are freed as soon as the backward is done with them (on FPN
P2 of a 2×800×1216 batch that keeps one 119 MiB map out of the peak, which is the 3×3 conv's
backward). Hence one backward per forward: ``retain_graph=True`` and a second backward raise. The gate
logits of y are computed at the deeper level's resolution (a 1×1 conv commutes with nearest
upsampling) and the gradient of y is reduced there by the adjoint of the upsampling.

The backward calls torch's private aten kernels (:mod:`.aten`); :func:`fused_path_error` checks
once per device and dtype that they exist and accept these calls, so that the loss can take the
reference path (:mod:`.reference`) where they do not.
"""
import functools
from types import SimpleNamespace
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .aten import FusedOpError, call
from .batch_norm import bn_apply, bn_backward, bn_forward
from .hcl import hcl_grad, hcl_pool, hcl_value, pool_weights, pooling_matrix
from .reductions import pixel_dot

__all__ = ['ABF', 'ABFFunction', 'fused_path_error']


def _upsample(x: Tensor, size: Tuple[int, int]) -> Tensor:
    """Nearest upsampling to exactly ``size`` (the identity, without a copy, at equal size)."""
    return x if tuple(x.shape[-2:]) == tuple(size) else F.interpolate(x, size=size,
                                                                          mode='nearest')


def _upsample_adjoint(grad: Tensor, size: Tuple[int, int]) -> Tensor:
    """The adjoint of :func:`_upsample` from ``size``: sums the gradient of each copy."""
    if tuple(grad.shape[-2:]) == tuple(size):
        return grad
    return call('upsample_nearest2d_backward', grad, list(grad.shape[-2:]),
                [*grad.shape[:2], *size], None, None)


def _conv_backward(grad: Tensor, x: Tensor, weight: Tensor, padding: int, input_grad: bool
                   ) -> Tuple[Optional[Tensor], Tensor]:
    """(∂L/∂x, ∂L/∂W) of ``F.conv2d(x, weight, padding=padding)`` (stride 1, no bias)."""
    grad_x, grad_w, _ = call('convolution_backward', grad, x, weight, None, [1, 1],
                             [padding, padding], [1, 1], False, [0, 0], 1,
                             [input_grad, True, False])
    return grad_x, grad_w


def _flat(x: Tensor) -> Tensor:
    return x.reshape(x.shape[0], x.shape[1], -1)


class ABFFunction(torch.autograd.Function):
    """(HCL(out, T), fused) of one ABF level; see the module docstring.

    Inputs: student (B, C_s, H, W), upper (B, mid, h, w) or None at the deepest level, teacher
    (B, C_t, H, W) (no gradient), the :class:`ABF` (its BatchNorm modules: eps, momentum, running
    statistics), whether BatchNorm uses batch statistics, then the parameters W₁ (mid, C_s, 1, 1),
    γ₁, β₁ (mid,), W_a (2, 2·mid, 1, 1) or None, b_a (2,) or None, W₂ (C_t, mid, 3, 3), γ₂, β₂
    (C_t,).
    """

    @staticmethod
    def forward(ctx, student: Tensor, upper: Optional[Tensor], teacher: Tensor, abf: 'ABF',
                training: bool, w1: Tensor, g1: Tensor, b1: Tensor, wa: Optional[Tensor],
                ba: Optional[Tensor], w2: Tensor, g2: Tensor, b2: Tensor
                ) -> Tuple[Tensor, Tensor]:
        ctx.set_materialize_grads(False)  # the shallowest level's fused gets no gradient
        size = tuple(student.shape[-2:])
        bn1_in = F.conv2d(student, w1)
        fused, stats1 = bn_forward(bn1_in, abf.bn1, g1, b1, training)  # x; fused in place below
        gate = None
        if upper is not None:
            mid = fused.shape[1]
            logits = F.conv2d(fused, wa[:, :mid]).add_(_upsample(F.conv2d(upper, wa[:, mid:], ba),
                                                                size))
            gate = logits.sigmoid_()
            fused.mul_(gate[:, :1]).addcmul_(_upsample(upper, size), gate[:, 1:])
        bn2_in = F.conv2d(fused, w2, padding=1)
        diff, stats2 = bn_forward(bn2_in, abf.bn2, g2, b2, training)
        diff.sub_(teacher)
        weights = pool_weights(size[0])
        pools = (pooling_matrix(size[0], [k for k, _ in weights], diff),
                 pooling_matrix(size[1], [k for k, _ in weights], diff))
        pooled = hcl_pool(diff, *pools)  # (B, C_t, Σk, Σk): small, kept for the backward
        loss = hcl_value(diff, pooled, weights)
        del diff
        ctx.save_for_backward(student, upper, teacher, fused, w1, g1, b1, wa, w2, g2, b2)
        ctx.bn1_in, ctx.bn2_in, ctx.gate, ctx.abf = bn1_in, bn2_in, gate, abf
        ctx.stats, ctx.weights, ctx.pools, ctx.pooled = (stats1, stats2), weights, pools, pooled
        ctx.training = training
        return loss, fused

    @staticmethod
    def backward(ctx, grad_loss: Tensor, grad_fused_out: Optional[Tensor]):
        if not hasattr(ctx, 'bn2_in'):
            raise RuntimeError(
                'ReviewKDLoss frees its intermediate maps during the backward pass to save memory, '
                'so a second backward through the same graph (retain_graph=True) is not '
                'supported: compute the loss again')
        student, upper, teacher, fused, w1, g1, b1, wa, w2, g2, b2 = ctx.saved_tensors
        (stats1, stats2), training = ctx.stats, ctx.training
        size = tuple(student.shape[-2:])
        if grad_loss is None:
            grad_loss = torch.zeros((), dtype=fused.dtype, device=fused.device)

        # HCL and BN₂: D is recomputed from the BN₂ input
        diff = bn_apply(ctx.bn2_in, stats2, g2, b2).sub_(teacher)
        grad = hcl_grad(diff, ctx.pooled, ctx.weights, *ctx.pools, grad_loss)
        del diff
        grad, grad_g2, grad_b2 = bn_backward(grad, ctx.bn2_in, ctx.abf.bn2, stats2, g2, training)
        del ctx.bn2_in
        grad_fused, grad_w2 = _conv_backward(grad, fused, w2, 1, True)
        del grad
        if grad_fused_out is not None:
            grad_fused.add_(grad_fused_out)

        grad_upper = grad_wa = grad_ba = None
        if upper is None:
            grad_x = grad_fused
        else:  # fused = x·a₀ + y·a₁, a = σ(W_a,x·x + W_a,y·y + b_a)
            gate, mid = ctx.gate, fused.shape[1]
            x = bn_apply(ctx.bn1_in, stats1, g1, b1)
            grad_x_gate = pixel_dot(grad_fused, x)
            y = _upsample(upper, size)
            grad_gate = torch.cat([grad_x_gate, pixel_dot(grad_fused, y)], 1)
            del y
            grad_logits = grad_gate.mul_(gate).mul_(1 - gate)  # σ' = σ(1 − σ)
            batch = x.shape[0]
            grad_wa_x = torch.bmm(_flat(grad_logits), _flat(x).transpose(1, 2)).sum(0)
            del x
            grad_logits_up = _upsample_adjoint(grad_logits, upper.shape[-2:])
            grad_wa_y = torch.bmm(_flat(grad_logits_up), _flat(upper).transpose(1, 2)).sum(0)
            grad_wa = torch.cat([grad_wa_x, grad_wa_y], 1)[..., None, None]
            grad_ba = grad_logits.sum((0, 2, 3))
            grad_x = grad_fused * gate[:, :1]
            _flat(grad_x).baddbmm_(wa[:, :mid, 0, 0].T.expand(batch, -1, -1), _flat(grad_logits))
            grad_upper = _upsample_adjoint(grad_fused.mul_(gate[:, 1:]), upper.shape[-2:])
            del grad_fused
            _flat(grad_upper).baddbmm_(wa[:, mid:, 0, 0].T.expand(batch, -1, -1),
                                       _flat(grad_logits_up))
        del ctx.gate
        grad_x, grad_g1, grad_b1 = bn_backward(grad_x, ctx.bn1_in, ctx.abf.bn1, stats1, g1,
                                               training)
        del ctx.bn1_in
        grad_student, grad_w1 = _conv_backward(grad_x, student, w1, 0, ctx.needs_input_grad[0])
        return (grad_student, grad_upper, None, None, None, grad_w1, grad_g1, grad_b1, grad_wa,
                grad_ba, grad_w2, grad_g2, grad_b2)


class ABF(nn.Module):
    """One level of the review path: parameters, init, and the fused forward (B, C_s, H, W) →
    (HCL against the teacher, fused (B, mid, H, W)).

    Args:
        in_channels: C_s, the student level's channels.
        mid_channels: the review path's width.
        out_channels: C_t, the teacher level's channels.
        fuse: whether a deeper level's ``fused`` is fused in (False at the deepest level).

    Init as the authors': ``conv1`` and ``conv2`` kaiming-uniform with a = 1, the gate conv
    PyTorch's default; BatchNorm γ = 1, β = 0.
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int,
                 fuse: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, mid_channels, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.gate = nn.Conv2d(2 * mid_channels, 2, kernel_size=1) if fuse else None
        self.conv2 = nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        nn.init.kaiming_uniform_(self.conv1.weight, a=1)
        nn.init.kaiming_uniform_(self.conv2.weight, a=1)

    def forward(self, student: Tensor, upper: Optional[Tensor], teacher: Tensor
                ) -> Tuple[Tensor, Tensor]:
        """(HCL(out, teacher) (a scalar), fused (B, mid, H, W)) for student (B, C_s, H, W),
        upper (B, mid, h, w) (None exactly when ``fuse`` is False) and teacher (B, C_t, H, W)."""
        if (upper is None) != (self.gate is None):
            raise ValueError('an ABF built with fuse=True needs the deeper level\'s fused map, '
                             'and one built with fuse=False takes none')
        gate_w, gate_b = (None, None) if self.gate is None else (self.gate.weight, self.gate.bias)
        return ABFFunction.apply(student, upper, teacher.detach(), self, self.training,
                                 self.conv1.weight, self.bn1.weight, self.bn1.bias, gate_w,
                                 gate_b, self.conv2.weight, self.bn2.weight, self.bn2.bias)


@functools.lru_cache(maxsize=None)
def fused_path_error(device: torch.device, dtype: torch.dtype) -> Optional[FusedOpError]:
    """None when :class:`ABFFunction` runs on ``device`` in ``dtype``, else the
    :class:`.aten.FusedOpError` of the first private op that is missing or rejected its call.

    One forward and backward of a fusing level (a 1×1 deeper map upsampled to 2×2, both
    gradients) in training and in eval, on tiny tensors with throwaway BatchNorm statistics: it
    draws no random numbers, touches no caller state, and creates everything on the device (no
    host-to-device copy, so no synchronisation). Cached: torch's ops do not change within a
    process.
    """
    def ramp(*shape: int) -> Tensor:
        n = 1
        for d in shape:
            n *= d
        return torch.linspace(-1, 1, n, device=device, dtype=dtype).reshape(shape).requires_grad_()

    with torch.inference_mode(False), torch.enable_grad(), \
            torch.autocast(device.type, enabled=False):
        # what bn_forward / bn_backward read of an nn.BatchNorm2d, whose own constructor would
        # copy its num_batches_tracked from the host
        norms = SimpleNamespace(**{name: SimpleNamespace(
            running_mean=torch.zeros(2, device=device, dtype=dtype),
            running_var=torch.ones(2, device=device, dtype=dtype),
            num_batches_tracked=torch.zeros((), device=device, dtype=torch.long),
            momentum=0.1, eps=1e-5) for name in ('bn1', 'bn2')})
        tensors = [ramp(2, 2, 2, 2), ramp(2, 2, 1, 1)]  # student, upper
        params = [ramp(2, 2, 1, 1), ramp(2), ramp(2), ramp(2, 4, 1, 1), ramp(2),
                  ramp(2, 2, 3, 3), ramp(2), ramp(2)]
        teacher = torch.zeros(2, 2, 2, 2, device=device, dtype=dtype)
        try:
            for training in (True, False):
                loss, fused = ABFFunction.apply(tensors[0], tensors[1], teacher, norms, training,
                                                *params)
                torch.autograd.grad(loss + fused.sum(), tensors + params)
        except FusedOpError as error:
            return error
    return None
