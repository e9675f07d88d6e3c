"""AttentionTransferLoss against the independent formulation in .reference (FRSKD's
``Attention``)."""
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from kdseg.models.losses.frskd import AttentionTransferLoss

from .reference import attention_transfer

# Shallow to deep, different channels on the two sides; levels 1 and 2 have the same size (the
# stride-8 stages of a dilated backbone), so a mistake that pairs levels by size would show.
SIZES = [(9, 11), (5, 6), (5, 6), (3, 2)]
STUDENT = [4, 6, 6, 8]
TEACHER = [5, 3, 7, 1]


def _inputs(dtype=torch.float64, seed=0, batch=3):
    gen = torch.Generator().manual_seed(seed)
    student = [torch.randn(batch, c, *s, generator=gen, dtype=torch.float64).to(dtype)
               .requires_grad_() for c, s in zip(STUDENT, SIZES)]
    teacher = [torch.randn(batch, c, *s, generator=gen, dtype=torch.float64).to(dtype)
               for c, s in zip(TEACHER, SIZES)]
    return student, teacher


def _close_grads(actual, expected, rtol):
    """Element-wise rtol, with an absolute floor at rtol × the largest |gradient| of the level (an
    element near zero has no meaningful relative error)."""
    for i, (a, b) in enumerate(zip(actual, expected)):
        assert a.shape == b.shape, i
        assert_close(a, b, rtol=rtol, atol=rtol * b.abs().max().item(), msg=f'level {i}')


@pytest.mark.parametrize('loss_weight', [1.0, 0.3, 50.0])
@pytest.mark.parametrize('levels', [[0], [1, 2], [0, 1, 2, 3]])
def test_value_and_student_gradients_match_the_reference_in_float64(loss_weight, levels):
    student, teacher = _inputs()
    student, teacher = [student[i] for i in levels], [teacher[i] for i in levels]
    ours = AttentionTransferLoss(loss_weight)(student, teacher)
    theirs = attention_transfer(student, teacher, loss_weight)
    assert ours.dim() == 0 and ours.dtype == torch.float64
    assert_close(ours, theirs, rtol=1e-6, atol=1e-15)
    _close_grads(torch.autograd.grad(ours, student), torch.autograd.grad(theirs, student), 1e-6)


def test_levels_are_summed_not_averaged():
    student, teacher = _inputs()
    loss = AttentionTransferLoss(0.7)
    per_level = [loss([s], [t]) for s, t in zip(student, teacher)]
    assert_close(loss(student, teacher), sum(per_level), rtol=1e-12, atol=0)


def test_features_below_the_normalisation_eps_match_the_reference():
    # ||mean_C(F²)|| ≈ 1e-16 < 1e-12: a(F) is divided by the eps, not by its norm, so the scale
    # invariance is lost there; the two sides get different tiny scales so that it shows.
    student, teacher = _inputs()
    student = [(student[1] * 1e-8).detach().requires_grad_()]
    teacher = [teacher[1] * 3e-8]
    ours = AttentionTransferLoss(2.0)(student, teacher)
    theirs = attention_transfer(student, teacher, 2.0)
    assert_close(ours, theirs, rtol=1e-6, atol=0)
    scaled = AttentionTransferLoss(2.0)([student[0] * 1e8], [teacher[0] * 1e8])
    assert not torch.allclose(ours, scaled, rtol=1e-3)
    _close_grads(torch.autograd.grad(ours, student), torch.autograd.grad(theirs, student), 1e-6)


def test_an_all_zero_student_level_gives_a_finite_value_and_zero_gradient():
    # a(0) = 0 / max(0, eps) = 0, so the level contributes mean(a(T)²) = 1 / (H·W) per sample
    student, teacher = _inputs()
    zero = torch.zeros_like(student[1]).requires_grad_()
    value = AttentionTransferLoss()([zero], [teacher[1]])
    assert_close(value, attention_transfer([zero], [teacher[1]]), rtol=1e-6, atol=0)
    assert_close(value, torch.tensor(1.0 / (5 * 6), dtype=torch.float64), rtol=1e-12, atol=0)
    value.backward()
    assert torch.isfinite(zero.grad).all() and not zero.grad.any()


def test_the_self_teacher_gets_no_gradient():
    student, teacher = _inputs()
    teacher = [t.requires_grad_() for t in teacher]  # leaves that would take a gradient
    AttentionTransferLoss(3.0)(student, teacher).backward()
    assert all(t.grad is None or not t.grad.any() for t in teacher)
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in student)


def test_a_self_teacher_module_gets_no_gradient():
    # a non-leaf self-teacher output: the conv producing it must receive nothing
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, padding=1)
    x = torch.randn(2, 4, 8, 8)
    student = [torch.randn(2, 5, 8, 8, requires_grad=True),
               torch.randn(2, 3, 4, 4, requires_grad=True)]
    features = conv(x)
    teacher = [features, features[..., ::2, ::2]]
    AttentionTransferLoss(2.0)(student, teacher).backward()
    assert conv.weight.grad is None and conv.bias.grad is None
    assert all(s.grad.abs().sum() > 0 for s in student)


def test_float32_matches_float64():
    # float32 eps ≈ 1.2e-7; each level sums ≤ 99 squared differences of unit-norm maps and the
    # norms are sums of ≤ 99 squares, so rounding stays orders of magnitude below rtol 1e-4
    # (a wrong formula is off by O(1)). The same float32-representable inputs on both sides.
    student32, teacher32 = _inputs(torch.float32)
    student64 = [s.detach().double().requires_grad_() for s in student32]
    teacher64 = [t.double() for t in teacher32]
    loss = AttentionTransferLoss(5.0)
    ours, theirs = loss(student32, teacher32), loss(student64, teacher64)
    assert ours.dtype == torch.float32
    assert_close(ours.double(), theirs, rtol=1e-4, atol=0)
    _close_grads([g.double() for g in torch.autograd.grad(ours, student32)],
                 torch.autograd.grad(theirs, student64), 1e-4)


def test_invariant_to_scaling_each_sample_of_a_feature():
    # a(F) is normalised per sample, and F enters squared: any non-zero per-sample factor cancels
    student, teacher = _inputs()
    loss = AttentionTransferLoss(1.5)
    base = loss(student, teacher)
    factors = torch.tensor([3.7, 0.02, -2.0], dtype=torch.float64).view(3, 1, 1, 1)
    assert_close(loss([s * factors for s in student], teacher), base, rtol=1e-10, atol=0)
    assert_close(loss(student, [t * factors.flip(0) for t in teacher]), base, rtol=1e-10, atol=0)


def test_invariant_to_the_channel_count():
    # a(F) averages over channels: repeating (or permuting) the channels leaves it unchanged
    student, teacher = _inputs()
    loss = AttentionTransferLoss(1.5)
    base = loss(student, teacher)
    assert_close(loss(student, [t.repeat(1, 3, 1, 1) for t in teacher]), base, rtol=1e-10, atol=0)
    assert_close(loss([torch.cat([s, s.flip(1)], 1) for s in student], teacher), base,
                 rtol=1e-10, atol=0)


def test_zero_when_the_maps_agree_and_positive_otherwise():
    student, teacher = _inputs()
    loss = AttentionTransferLoss(1.0)
    # the student is the teacher repeated on more channels and scaled: equal attention maps
    same = [(2.5 * t.repeat(1, 2, 1, 1)).detach() for t in teacher]
    assert_close(loss(same, teacher), torch.zeros((), dtype=torch.float64), rtol=0, atol=1e-15)
    for seed in range(5):
        assert loss(*_inputs(seed=seed)) > 0


def test_level_count_mismatch_raises():
    student, teacher = _inputs()
    with pytest.raises(ValueError, match='4 student levels and 3 self-teacher levels'):
        AttentionTransferLoss()(student, teacher[:3])
    with pytest.raises(ValueError, match='they must match'):
        AttentionTransferLoss()([], [])


@pytest.mark.parametrize('student_shape, teacher_shape', [
    ((2, 4, 5, 6), (3, 4, 5, 6)),  # batch
    ((2, 4, 5, 6), (2, 4, 6, 5)),  # spatial size
    ((2, 4, 5, 6), (2, 4, 5, 7)),
    ((2, 4, 30), (2, 4, 30)),      # not (B, C, H, W)
    ((2, 4, 5, 6), (2, 4, 5, 6, 1)),
])
def test_shape_mismatch_raises(student_shape, teacher_shape):
    good = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError,
                       match=r'level 1: .*must be \(B, C, H, W\) with the same B, H, W'):
        AttentionTransferLoss()([good, torch.randn(student_shape)],
                                [good, torch.randn(teacher_shape)])


def test_half_precision_features_do_not_overflow():
    # F² of a float16 feature overflows above |F| ~ 256; a(F) is computed in float32
    student = (300 * torch.randn(2, 3, 4, 5)).half()
    teacher = (300 * torch.randn(2, 6, 4, 5)).half()
    loss = AttentionTransferLoss()([student], [teacher])
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    torch.testing.assert_close(
        loss, AttentionTransferLoss()([student.double()], [teacher.double()]).float(),
        rtol=1e-5, atol=1e-8)
