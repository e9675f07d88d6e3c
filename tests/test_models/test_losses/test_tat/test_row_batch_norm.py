"""Tests of kdseg.models.losses.tat.row_batch_norm: BatchNorm on channel-last rows and its
written-out backward, against plain autograd in float64, for every BatchNorm weight."""
import pytest
import torch

from kdseg.models.losses.tat.row_batch_norm import row_norm_backward_, row_norm_forward_

from .naive import all_grads, build, close, make_inputs, plain_float64, twin


@pytest.mark.parametrize('bn_weight', [0.0, 1e-6])
@pytest.mark.parametrize('reference,training', [(True, True), (False, True), (True, False)])
def test_zero_or_tiny_bn_weight_gives_float64_gradients(bn_weight, reference, training):
    """γ of 0 or 1e-6 in some channels of every embedding (float32): finite, and equal to plain
    autograd in float64. BatchNorm cannot recover x̂ = (y − β)/γ from its output there."""
    loss64 = build(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2), reference=reference)
    for module in (loss64.query, loss64.key, loss64.value):
        module[1].weight.data[::3] = bn_weight
        module[1].running_mean.uniform_(-1, 1)
        module[1].running_var.uniform_(0.5, 2)
    loss64.train(training)
    loss32 = twin(loss64, torch.float32)
    student, teacher = make_inputs()
    s32 = student.detach().float().requires_grad_()
    v32 = loss32(s32, teacher.float())
    v64 = plain_float64(student, teacher, loss64)
    close(v32.double(), v64, 1e-5, 0)
    for got, want in zip(all_grads(v32, s32, loss32), all_grads(v64, student, loss64)):
        assert torch.isfinite(got).all()
        close(got.double(), want, 1e-4, 1e-6)  # atol: the key β gets 0 (float32 noise)


def _plain_row_norm(x, valid, weight, bias, per_sample, running=None, eps=1e-5):
    """Autograd BatchNorm over the valid rows of (B, N, C); returns y and the statistics."""
    w = torch.ones_like(x[..., :1]) if valid is None else valid
    dims = (1,) if per_sample else (0, 1)
    if running is None:
        count = w.sum(dims, keepdim=True)
        mean = (x * w).sum(dims, keepdim=True) / count
        var = ((x - mean) ** 2 * w).sum(dims, keepdim=True) / count
    else:
        mean, var = (r.view(1, 1, -1) for r in running)
    rstd = (var + eps).rsqrt()
    return ((x - mean) * rstd * weight + bias) * w, mean, rstd


@pytest.mark.parametrize('per_sample', [True, False])
@pytest.mark.parametrize('masked', [True, False])
@pytest.mark.parametrize('batch_stats', [True, False])
def test_row_norm_backward_matches_autograd_for_every_bn_weight(per_sample, masked, batch_stats):
    """Channels with γ = 0, 1e-6, a γ small against β, and ordinary ones; with gradients reaching
    the statistics directly (as the anchor term's do)."""
    gen = torch.Generator().manual_seed(0)
    batch, rows, channels = 3, 17, 6
    x64 = torch.randn(batch, rows, channels, generator=gen, dtype=torch.float64) * 2 + 1
    weight64 = torch.tensor([0.0, 1e-6, 0.01, 1.0, -0.7, 1.3], dtype=torch.float64)
    bias64 = torch.tensor([0.5, -1.0, 2.0, 0.3, 0.0, -0.2], dtype=torch.float64)
    valid = None
    if masked:
        valid = (torch.rand(batch, rows, 1, generator=gen) > 0.3).to(torch.float64)
    running = None if batch_stats else (torch.rand(channels, generator=gen, dtype=torch.float64),
                                        torch.rand(channels, generator=gen, dtype=torch.float64)
                                        + 0.5)
    dy = torch.randn(batch, rows, channels, generator=gen, dtype=torch.float64)
    stat_shape = (batch if per_sample else 1, 1, channels)
    dmean, drstd = (torch.randn(stat_shape, generator=gen, dtype=torch.float64) for _ in range(2))

    leaves = [t.clone().requires_grad_() for t in (x64, weight64, bias64)]
    y, mean, rstd = _plain_row_norm(*leaves[:1], valid, *leaves[1:], per_sample, running)
    outputs, upstream = [y], [dy]
    if batch_stats:
        outputs += [mean, rstd]
        upstream += [dmean, drstd]
    expected = torch.autograd.grad(outputs, leaves, upstream)

    f32 = [t.float() for t in (x64, weight64, bias64, dy, dmean, drstd)]
    x, weight, bias, dy32, dmean32, drstd32 = f32
    valid32 = None if valid is None else valid.float()
    running32 = None if running is None else tuple(r.float() for r in running)
    state = row_norm_forward_(x, valid32, weight, bias, 1e-5, per_sample, running32)
    close(x.double(), y.detach(), 1e-6, 1e-6)  # x now holds y
    got = row_norm_backward_(dy32, x, valid32, weight, bias, state, per_sample,
                             dmean32 if batch_stats else None, drstd32 if batch_stats else None)
    for g, e in zip(got, expected):
        assert torch.isfinite(g).all()
        close(g.double(), e, 1e-5, 1e-6)
