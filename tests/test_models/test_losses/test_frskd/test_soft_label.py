"""SoftLabelKDLoss against the independent formulation in .reference (FRSKD's ``DistillKL``)."""
import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from conftest import assert_close_grad, random_logits
from kdseg.models.losses.frskd import SoftLabelKDLoss

from .reference import soft_label_kd

SHAPES = {'dense': (2, 5, 4, 3), 'rois': (7, 6)}


@pytest.mark.parametrize('kind', sorted(SHAPES))
@pytest.mark.parametrize('temperature', [1, 4, 2.5])
@pytest.mark.parametrize('loss_weight', [1.0, 0.5])
def test_value_and_student_gradient_match_the_reference_in_float64(kind, temperature, loss_weight):
    student, teacher = random_logits(SHAPES[kind])
    ours = SoftLabelKDLoss(temperature, loss_weight)(student, teacher)
    theirs = soft_label_kd(student, teacher, temperature, loss_weight)
    assert ours.dim() == 0 and ours.dtype == torch.float64
    assert_close(ours, theirs, rtol=1e-6, atol=1e-15)
    (g_ours,) = torch.autograd.grad(ours, student)
    (g_theirs,) = torch.autograd.grad(theirs, student)
    assert_close_grad(g_ours, g_theirs, 1e-6)


def test_dense_logits_average_over_pixels_like_rois():
    # N = B·H·W: a dense map is the same loss as its pixels taken as RoIs, and duplicating the
    # batch leaves the mean over positions unchanged (a per-sample 'batchmean' would double)
    student, teacher = random_logits(SHAPES['dense'])
    loss = SoftLabelKDLoss(4, 0.5)
    rows = [x.permute(0, 2, 3, 1).reshape(-1, x.shape[1]) for x in (student, teacher)]
    assert_close(loss(student, teacher), loss(*rows), rtol=1e-12, atol=0)
    assert_close(loss(student.repeat(2, 1, 1, 1), teacher.repeat(2, 1, 1, 1)),
                 loss(student, teacher), rtol=1e-12, atol=0)


def test_temperature_scaling_against_the_reference():
    # α·τ²·KL at τ is α·τ² times the τ = 1 loss of the logits divided by τ, both stated by the
    # reference rather than assumed of the module
    student, teacher = random_logits(SHAPES['dense'])
    for tau in (1, 2, 4, 10):
        ours = SoftLabelKDLoss(tau, 0.3)(student, teacher)
        assert_close(ours, soft_label_kd(student, teacher, tau, 0.3), rtol=1e-6, atol=0)
        softened = soft_label_kd(student / tau, teacher / tau, 1.0, 1.0)
        assert_close(ours, 0.3 * tau ** 2 * softened, rtol=1e-6, atol=0)


def test_high_temperature_limit_is_the_logit_matching_loss():
    # τ²·KL(softmax(t/τ) ‖ softmax(s/τ)) → Σ_c (t̃_c − s̃_c)² / (2C) per position as τ → ∞, with
    # x̃ the logits less their class mean (Hinton et al. 2015); the error is O(1/τ). This pins the
    # τ² factor: without it the loss would vanish like 1/τ², with τ instead like 1/τ.
    student, teacher = random_logits(SHAPES['rois'], scale=1.0)
    classes = student.shape[1]
    d = (teacher - teacher.mean(1, keepdim=True)) - (student - student.mean(1, keepdim=True))
    limit = 0.7 * (d.detach() ** 2).sum(1).mean() / (2 * classes)
    for tau, rtol in ((100.0, 3e-2), (1000.0, 3e-3)):
        assert_close(SoftLabelKDLoss(tau, 0.7)(student, teacher), limit, rtol=rtol, atol=0)


@pytest.mark.parametrize('kind', sorted(SHAPES))
def test_the_self_teacher_gets_no_gradient(kind):
    student, teacher = random_logits(SHAPES[kind])
    teacher.requires_grad_()
    SoftLabelKDLoss(4, 2.0)(student, teacher).backward()
    assert teacher.grad is None or not teacher.grad.any()
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_a_self_teacher_module_gets_no_gradient():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 1)
    teacher = conv(torch.randn(2, 3, 4, 4))  # non-leaf, in the conv's graph
    student = torch.randn(2, 5, 4, 4, requires_grad=True)
    SoftLabelKDLoss(2, 1.0)(student, teacher).backward()
    assert conv.weight.grad is None and conv.bias.grad is None
    assert student.grad.abs().sum() > 0


@pytest.mark.parametrize('temperature', [1, 4])
def test_float32_matches_float64(temperature):
    # float32 eps ≈ 1.2e-7; log-softmax of ≤ 6 classes and a sum of ≤ 42 non-negative KL terms
    # of size O(0.1-1) keep the rounding near 1e-6 relative, well below rtol 1e-4, while a wrong
    # formula is off by O(1). The same float32-representable logits on both sides.
    student32, teacher32 = random_logits(SHAPES['dense'], torch.float32)
    student64 = student32.detach().double().requires_grad_()
    loss = SoftLabelKDLoss(temperature, 0.5)
    ours, theirs = loss(student32, teacher32), loss(student64, teacher32.double())
    assert ours.dtype == torch.float32
    assert_close(ours.double(), theirs, rtol=1e-4, atol=0)
    (g32,), (g64,) = torch.autograd.grad(ours, student32), torch.autograd.grad(theirs, student64)
    assert_close_grad(g32.double(), g64, 1e-4)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_half_precision_logits_give_a_float32_loss(dtype):
    student, teacher = random_logits(SHAPES['dense'], dtype)
    value = SoftLabelKDLoss(4, 0.5)(student, teacher)
    assert value.dtype == torch.float32
    # computed in float32 from the half values, which float64 represents exactly
    expected = soft_label_kd(student.detach().double(), teacher.double(), 4, 0.5)
    assert_close(value.double(), expected, rtol=1e-5, atol=0)
    value.backward()
    assert student.grad.dtype == dtype and torch.isfinite(student.grad).all()
    assert student.grad.abs().sum() > 0


def test_zero_for_equal_logits_and_non_negative_otherwise():
    student, teacher = random_logits(SHAPES['dense'])
    loss = SoftLabelKDLoss(4, 1.0)
    assert_close(loss(teacher, teacher), torch.zeros((), dtype=torch.float64), rtol=0, atol=1e-15)
    for seed in range(10):
        s, t = random_logits(SHAPES['dense'], seed=seed)
        assert loss(s, t) > 0
        # close distributions: a tiny positive KL, not a rounding-negative one
        assert loss(t + 1e-3 * s, t) >= 0


@pytest.mark.parametrize('kind', sorted(SHAPES))
def test_invariant_to_a_constant_per_position(kind):
    # softmax over the classes ignores a shift common to all classes at a position
    student, teacher = random_logits(SHAPES[kind])
    gen = torch.Generator().manual_seed(1)
    shape = list(SHAPES[kind])
    shape[1] = 1
    shift_s = 50 * torch.randn(shape, generator=gen, dtype=torch.float64)
    shift_t = 50 * torch.randn(shape, generator=gen, dtype=torch.float64)
    loss = SoftLabelKDLoss(4, 0.5)
    base = loss(student, teacher)
    assert_close(loss(student + shift_s, teacher), base, rtol=1e-10, atol=0)
    assert_close(loss(student, teacher + shift_t), base, rtol=1e-10, atol=0)


@pytest.mark.parametrize('student_shape, teacher_shape', [
    ((2, 5, 4, 3), (2, 5, 3, 4)),
    ((2, 5, 4, 3), (2, 4, 4, 3)),
    ((7, 6), (6, 6)),
    ((7, 6), (7, 6, 1)),
    ((6,), (6,)),  # no class axis
])
def test_shape_mismatch_raises(student_shape, teacher_shape):
    with pytest.raises(ValueError, match=r'must have the same shape, \(N, C\) or \(B, C, H, W\)'):
        SoftLabelKDLoss()(torch.randn(student_shape), torch.randn(teacher_shape))


@pytest.mark.parametrize('temperature', [0, 0.0, -1, True, '1', math.nan, math.inf, None])
def test_bad_temperature_raises(temperature):
    with pytest.raises(ValueError, match='temperature must be a positive finite number'):
        SoftLabelKDLoss(temperature)


def test_no_rois_give_zero_connected_to_the_student():
    student = torch.randn(0, 5, requires_grad=True)
    loss = SoftLabelKDLoss(2.0, loss_weight=3.0)(student, torch.randn(0, 5))
    assert loss.item() == 0.0
    loss.backward()
    assert student.grad.shape == (0, 5)


def test_a_class_the_self_teacher_rules_out_adds_nothing():
    # a -inf self-teacher logit (p_t = 0) adds 0 to the KL, as in the authors' kl_div(log p_s, p_t)
    student = torch.randn(4, 5, dtype=torch.float64)
    teacher = torch.randn(4, 5, dtype=torch.float64)
    teacher[:, 2] = -math.inf
    loss = SoftLabelKDLoss()(student, teacher)
    p_t = teacher.softmax(1)
    expected = (p_t[:, [0, 1, 3, 4]] * (p_t[:, [0, 1, 3, 4]].log()
                                       - student.log_softmax(1)[:, [0, 1, 3, 4]])).sum() / 4
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=0)
