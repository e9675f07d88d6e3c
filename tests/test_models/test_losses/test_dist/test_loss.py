"""DenseDISTLoss against the independent formulation in .reference (the authors' ``DIST``)."""
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.testing import assert_close

from conftest import assert_close_grad, random_logits
from kdseg.models.losses.dist import DenseDISTLoss

from .reference import dist, dist_terms

# (N, C): RoI / image logits; (B, C, H, W): dense logits, H ≠ W so that a transposed unrolling
# of the map (the authors' transpose(1, 3)) could not hide a shape mistake
SHAPES = {'rows': (7, 6), 'dense': (2, 5, 4, 3)}


@pytest.mark.parametrize('kind', sorted(SHAPES))
@pytest.mark.parametrize('beta, gamma, temperature, loss_weight', [
    (1.0, 1.0, 1.0, 1.0),   # the authors' Cityscapes and COCO setting
    (2.0, 2.0, 1.0, 1.0),
    (1.0, 0.5, 4.0, 0.4),
    (0.0, 3.0, 2.5, 2.0),
])
def test_value_and_student_gradient_match_the_reference_in_float64(kind, beta, gamma,
                                                                   temperature, loss_weight):
    student, teacher = random_logits(SHAPES[kind])
    ours = DenseDISTLoss(beta, gamma, temperature, loss_weight)(student, teacher)
    theirs = dist(student, teacher, beta, gamma, temperature, loss_weight)
    assert ours.dim() == 0 and ours.dtype == torch.float64
    assert_close(ours, theirs, rtol=1e-10, atol=1e-14)
    (g_ours, ), (g_theirs, ) = (torch.autograd.grad(ours, student),
                                torch.autograd.grad(theirs, student))
    assert_close_grad(g_ours, g_theirs, 1e-9)


@pytest.mark.parametrize('kind', sorted(SHAPES))
def test_each_term_matches_the_reference(kind):
    # β = 1, γ = 0 isolates L_inter, β = 0, γ = 1 isolates L_intra (the two are not equal, so a
    # swap of the reduction axes would fail here)
    student, teacher = random_logits(SHAPES[kind])
    inter, intra = dist_terms(student, teacher, 2.0)
    assert not torch.isclose(inter, intra, rtol=1e-3)
    assert_close(DenseDISTLoss(1.0, 0.0, 2.0)(student, teacher), 4.0 * inter, rtol=1e-10, atol=0)
    assert_close(DenseDISTLoss(0.0, 1.0, 2.0)(student, teacher), 4.0 * intra, rtol=1e-10, atol=0)


@pytest.mark.parametrize('kind', sorted(SHAPES))
def test_gradcheck_in_float64(kind):
    student, teacher = random_logits(SHAPES[kind])
    loss = DenseDISTLoss(1.5, 0.5, 2.0, 0.7)
    assert torch.autograd.gradcheck(lambda s: loss(s, teacher), (student, ), eps=1e-6,
                                    atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize('kind', sorted(SHAPES))
def test_pearson_is_the_standard_correlation_away_from_the_eps(kind):
    # numpy's corrcoef (no eps), one row and one class at a time: the eps 1e-8 moves the
    # correlations of these well-spread probabilities by ~1e-7 relative at most
    student, teacher = random_logits(SHAPES[kind])
    s, t = (x.detach().numpy() for x in (student, teacher))
    if s.ndim == 4:  # (B, C, H, W) -> (B·H·W, C)
        s, t = (np.moveaxis(x, 1, -1).reshape(-1, x.shape[1]) for x in (s, t))
    y_s, y_t = (np.exp(x) / np.exp(x).sum(1, keepdims=True) for x in (s, t))
    inter = 1 - np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(y_s, y_t)])
    intra = 1 - np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(y_s.T, y_t.T)])
    assert_close(DenseDISTLoss()(student, teacher).item(), inter + intra, rtol=1e-5, atol=0)


def test_the_eps_is_added_to_the_product_of_the_norms():
    # logits of size ~1e-4: each centred probability row has a squared norm of ~1e-9, so the
    # norm product is below the eps 1e-8 and a correlation of ~0.99 (the teacher is the student
    # plus 10 % noise) is shrunk to ~0.15. Only the authors' placement of the eps gives the
    # reference value; the eps-free correlation (corrcoef) gives a loss near 0.
    student, noise = random_logits(SHAPES['rows'], scale=1e-4)
    teacher = student.detach() + 0.1 * noise
    loss = DenseDISTLoss(1.0, 0.0)
    ours = loss(student, teacher)
    assert_close(ours, dist(student, teacher, 1.0, 0.0), rtol=1e-8, atol=0)
    rows = zip(student.detach().softmax(1).numpy(), teacher.softmax(1).numpy())
    without_eps = 1 - np.mean([np.corrcoef(a, b)[0, 1] for a, b in rows])
    assert without_eps < 0.05 and ours.item() > 0.5


def test_dense_logits_are_rows_of_pixels_over_the_whole_batch():
    # (B, C, H, W) is the loss of its B·H·W pixels as rows (in any order), so the intra-class
    # correlation spans all images; it is not the mean of per-image losses
    student, teacher = random_logits(SHAPES['dense'])
    loss = DenseDISTLoss(1.0, 1.0, 2.0)
    rows = [x.permute(0, 2, 3, 1).reshape(-1, x.shape[1]) for x in (student, teacher)]
    dense = loss(student, teacher)
    assert_close(dense, loss(*rows), rtol=1e-12, atol=0)
    perm = torch.randperm(rows[0].shape[0], generator=torch.Generator().manual_seed(3))
    assert_close(dense, loss(rows[0][perm], rows[1][perm]), rtol=1e-12, atol=0)
    per_image = sum(loss(s[None], t[None]) for s, t in zip(student, teacher)) / len(student)
    assert not torch.isclose(dense, per_image, rtol=1e-3)


def test_a_row_shuffled_only_on_one_side_changes_the_loss():
    # the rows are paired: shuffling the teacher's pixels alone must be seen (a loss that
    # compared sorted or pooled statistics would not see it)
    student, teacher = random_logits(SHAPES['dense'])
    loss = DenseDISTLoss()
    shuffled = teacher.flatten(2)[..., torch.tensor([5, 2, 0, 11, 7, 1, 3, 9, 4, 10, 6, 8])]
    assert not torch.isclose(loss(student, teacher), loss(student, shuffled.view_as(teacher)),
                             rtol=1e-3)


@pytest.mark.parametrize('kind', sorted(SHAPES))
def test_invariant_to_a_constant_per_row(kind):
    # softmax over the classes ignores a shift common to all classes at a position
    student, teacher = random_logits(SHAPES[kind])
    gen = torch.Generator().manual_seed(1)
    shape = list(SHAPES[kind])
    shape[1] = 1
    shift_s = 30 * torch.randn(shape, generator=gen, dtype=torch.float64)
    shift_t = 30 * torch.randn(shape, generator=gen, dtype=torch.float64)
    loss = DenseDISTLoss(1.0, 2.0, 4.0)
    base = loss(student, teacher)
    assert_close(loss(student + shift_s, teacher + shift_t), base, rtol=1e-10, atol=0)


@pytest.mark.parametrize('kind', sorted(SHAPES))
def test_identical_logits_give_zero_up_to_the_eps(kind):
    # ρ(y, y) = ‖ỹ‖² / (‖ỹ‖² + eps), so the loss is eps-small and non-negative, not exactly 0
    _, teacher = random_logits(SHAPES[kind])
    y = teacher.softmax(1)
    row_dims = (0, ) + tuple(range(2, teacher.dim()))
    centred_rows = y - y.mean(1, keepdim=True)
    centred_cols = y - y.mean(row_dims, keepdim=True)
    sq_rows = centred_rows.square().sum(1)
    sq_cols = centred_cols.square().sum(row_dims)
    expected = (1e-8 / (sq_rows + 1e-8)).mean() + (1e-8 / (sq_cols + 1e-8)).mean()
    value = DenseDISTLoss()(teacher.clone().requires_grad_(), teacher)
    assert 0 < value.item() < 1e-5
    assert_close(value, expected, rtol=1e-6, atol=0)


def test_positive_for_different_logits_and_bounded():
    # each term is 1 − mean ρ ∈ [0, 2]
    loss = DenseDISTLoss()
    for seed in range(5):
        for shape in SHAPES.values():
            value = loss(*random_logits(shape, seed=seed)).item()
            assert 0.05 < value < 4.0


def test_invariant_to_a_linear_map_of_the_teacher_probabilities_per_row_and_class():
    # the point of DIST: ρ ignores scale and offset. A teacher whose softened probabilities are
    # an increasing linear map of the student's has inter-class correlation 1 on every row.
    # log-probabilities shifted per row give the same softmax, hence L_inter ≈ 0.
    student, _ = random_logits(SHAPES['rows'])
    teacher = student.detach().log_softmax(1) + torch.arange(7.0, dtype=torch.float64)[:, None]
    assert DenseDISTLoss(1.0, 0.0)(student, teacher).item() < 1e-6
    # a temperature makes it a different distribution: no longer a match
    assert DenseDISTLoss(1.0, 0.0)(student, 2.0 * teacher).item() > 1e-3


def test_weights_scale_the_terms_linearly():
    student, teacher = random_logits(SHAPES['dense'])
    inter = DenseDISTLoss(1.0, 0.0)(student, teacher)
    intra = DenseDISTLoss(0.0, 1.0)(student, teacher)
    for beta, gamma, weight in [(2.0, 1.0, 1.0), (0.3, 1.7, 0.4), (1.0, 1.0, 5.0)]:
        assert_close(DenseDISTLoss(beta, gamma, 1.0, weight)(student, teacher),
                     weight * (beta * inter + gamma * intra), rtol=1e-12, atol=0)
    zero = DenseDISTLoss(0.0, 0.0)(student, teacher)
    assert zero.item() == 0.0
    zero.backward()
    assert not student.grad.any()


def test_temperature_enters_the_softmax_and_as_tau_squared():
    # L at τ is τ² times the τ = 1 loss of the logits divided by τ: stated by the reference, not
    # assumed of the module; a missing τ² would be off by 16× at τ = 4
    student, teacher = random_logits(SHAPES['dense'])
    for tau in (0.5, 2.0, 4.0):
        ours = DenseDISTLoss(1.0, 1.0, tau, 0.3)(student, teacher)
        softened = dist(student / tau, teacher / tau, 1.0, 1.0, 1.0, 1.0)
        assert_close(ours, 0.3 * tau ** 2 * softened, rtol=1e-10, atol=0)


@pytest.mark.parametrize('kind', sorted(SHAPES))
def test_the_teacher_gets_no_gradient(kind):
    student, teacher = random_logits(SHAPES[kind])
    teacher.requires_grad_()
    DenseDISTLoss(1.0, 2.0, 4.0, 2.0)(student, teacher).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_a_teacher_module_gets_no_gradient():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 1)
    teacher = conv(torch.randn(2, 3, 4, 4))  # non-leaf, in the conv's graph
    student = torch.randn(2, 5, 4, 4, requires_grad=True)
    DenseDISTLoss()(student, teacher).backward()
    assert conv.weight.grad is None and conv.bias.grad is None
    assert student.grad.abs().sum() > 0


@pytest.mark.parametrize('kind', sorted(SHAPES))
@pytest.mark.parametrize('temperature', [1.0, 4.0])
def test_float32_matches_float64(kind, temperature):
    # float32 eps ≈ 1.2e-7; softmax over ≤ 6 classes, sums over ≤ 24 rows and correlations of
    # O(0.1-1) keep the rounding near 1e-6 relative, well below rtol 1e-4, while a wrong formula
    # is off by O(1). The same float32-representable logits on both sides.
    student32, teacher32 = random_logits(SHAPES[kind], torch.float32)
    student64 = student32.detach().double().requires_grad_()
    loss = DenseDISTLoss(1.0, 1.0, temperature, 0.5)
    ours, theirs = loss(student32, teacher32), loss(student64, teacher32.double())
    assert ours.dtype == torch.float32
    assert_close(ours.double(), theirs, rtol=1e-4, atol=0)
    (g32, ), (g64, ) = torch.autograd.grad(ours, student32), torch.autograd.grad(theirs, student64)
    assert_close_grad(g32.double(), g64, 1e-4)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('kind', sorted(SHAPES))
def test_half_precision_logits_give_a_float32_loss(dtype, kind):
    student, teacher = random_logits(SHAPES[kind], dtype)
    value = DenseDISTLoss(1.0, 1.0, 2.0, 0.5)(student, teacher)
    assert value.dtype == torch.float32
    # computed in float32 from the half values, which float64 represents exactly
    expected = dist(student.detach().double(), teacher.double(), 1.0, 1.0, 2.0, 0.5)
    assert_close(value.double(), expected, rtol=1e-5, atol=0)
    value.backward()
    assert student.grad.dtype == dtype and torch.isfinite(student.grad).all()
    assert student.grad.abs().sum() > 0


def test_mixed_dtypes_compute_in_the_wider_one():
    student, teacher = random_logits(SHAPES['rows'], torch.float16)
    value = DenseDISTLoss()(student, teacher.double())
    assert value.dtype == torch.float64
    assert_close(value, dist(student.detach().double(), teacher.double()), rtol=1e-10, atol=0)


def test_no_rois_give_zero_connected_to_the_student():
    student = torch.randn(0, 5, requires_grad=True)
    loss = DenseDISTLoss(1.0, 1.0, 2.0, loss_weight=3.0)(student, torch.randn(0, 5))
    assert loss.item() == 0.0 and loss.dtype == torch.float32
    loss.backward()
    assert student.grad.shape == (0, 5)


def test_a_single_row_has_no_intra_class_relation():
    # one RoI: each class column has one entry, its centred vector is 0, ρ = 0 / (0 + eps) = 0
    # and L_intra = 1, as in the authors' code; the gradient stays finite
    student, teacher = random_logits((1, 6))
    assert_close(DenseDISTLoss(0.0, 1.0)(student, teacher),
                 torch.ones((), dtype=torch.float64), rtol=0, atol=1e-12)
    value = DenseDISTLoss()(student, teacher)
    assert_close(value, dist(student, teacher), rtol=1e-10, atol=0)
    value.backward()
    assert torch.isfinite(student.grad).all()


def test_agrees_with_mmrazors_port_on_rows_and_not_on_denserandom_logits():
    # mmrazor's DISTLoss (the classification port) is this loss on (N, C); on (B, C, H, W) its
    # intra-class term correlates each pixel's class probability across the B images, which is
    # why kdseg has its own (registered as DenseDISTLoss)
    mmrazor_losses = pytest.importorskip('mmrazor.models.losses')
    theirs = mmrazor_losses.DISTLoss(inter_loss_weight=1.0, intra_loss_weight=0.5, tau=2.0,
                                     loss_weight=0.7)
    ours = DenseDISTLoss(1.0, 0.5, 2.0, 0.7)
    student, teacher = random_logits(SHAPES['rows'])
    assert_close(ours(student, teacher), theirs(student, teacher), rtol=1e-12, atol=0)
    student, teacher = random_logits(SHAPES['dense'])
    assert not torch.isclose(ours(student, teacher), theirs(student, teacher), rtol=1e-3)


@pytest.mark.parametrize('student_shape, teacher_shape', [
    ((2, 5, 4, 3), (2, 5, 3, 4)),   # spatial size: the loss does not resize
    ((2, 5, 4, 3), (2, 4, 4, 3)),   # classes
    ((2, 5, 4, 3), (3, 5, 4, 3)),   # batch
    ((7, 6), (6, 6)),
    ((7, 6), (7, 6, 1)),
    ((2, 5, 12), (2, 5, 12)),       # neither (N, C) nor (B, C, H, W)
    ((2, 5, 4, 3, 1), (2, 5, 4, 3, 1)),
    ((6, ), (6, )),                 # no class axis
    ((4, 0), (4, 0)),               # no classes
])
def test_shape_mismatch_raises_naming_both_shapes(student_shape, teacher_shape):
    pattern = (rf'student logits \({", ".join(map(str, student_shape))},?\) and teacher logits '
               rf'\({", ".join(map(str, teacher_shape))},?\) must have the same shape, '
               r'\(N, C\) or \(B, C, H, W\)')
    with pytest.raises(ValueError, match=pattern):
        DenseDISTLoss()(torch.randn(student_shape), torch.randn(teacher_shape))


def test_integer_logits_raise():
    with pytest.raises(ValueError, match='logits must be floating point'):
        DenseDISTLoss()(torch.ones(3, 4, dtype=torch.long), torch.ones(3, 4, dtype=torch.long))


@pytest.mark.parametrize('temperature', [0, 0.0, -1, True, '1', math.nan, math.inf, None])
def test_bad_temperature_raises(temperature):
    with pytest.raises(ValueError, match='temperature must be a positive finite number'):
        DenseDISTLoss(temperature=temperature)


@pytest.mark.parametrize('name', ['beta', 'gamma', 'loss_weight'])
@pytest.mark.parametrize('value', [-1e-3, -1, False, True, '1', math.nan, math.inf, None])
def test_bad_weights_raise(name, value):
    with pytest.raises(ValueError, match=f'{name} must be a non-negative finite number'):
        DenseDISTLoss(**{name: value})


def test_numpy_and_integer_weights_are_accepted_as_floats():
    loss = DenseDISTLoss(np.float32(2.0), 0, np.int64(3), loss_weight=np.float64(0.5))
    assert (loss.beta, loss.gamma, loss.temperature, loss.loss_weight) == (2.0, 0.0, 3.0, 0.5)
    assert all(type(v) is float for v in (loss.beta, loss.gamma, loss.temperature,
                                          loss.loss_weight))
    assert 'beta=2.0, gamma=0.0, temperature=3.0, loss_weight=0.5' in repr(loss)
