"""ReviewKDLoss's fused path against the package's reference formulation
(:mod:`kdseg.models.losses.review.reference`, METHODS.md section 3), an independent computation of
the same maths in plain autograd; the parity of the two ``impl`` settings on one module is
test_reference.py's."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kdseg.models.losses.review import ReviewKDLoss, reference
from kdseg.models.losses.review.hcl import pool_weights, pooling_matrix
from kdseg.models.losses.review.reference import review_kd

# Shallow to deep: a non-integer nearest upsampling (7×10 → 13×19), an equal-size pair (the
# stride-8 stages of a dilated backbone), and heights 3 and 2 at which HCL skips pooled sizes.
SIZES = [(13, 19), (7, 10), (7, 10), (3, 5), (2, 3)]
STUDENT = [6, 8, 8, 10, 12]
TEACHER = [5, 9, 7, 11, 4]
# CUDA too where there is one (the written-out backward calls torch's native kernels by name)
DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def _inputs(dtype=torch.float64, seed=0, batch=2, device='cpu'):
    gen = torch.Generator().manual_seed(seed)
    student = [torch.randn(batch, c, *s, generator=gen, dtype=dtype).to(device).requires_grad_()
               for c, s in zip(STUDENT, SIZES)]
    teacher = [torch.randn(batch, c, *s, generator=gen, dtype=dtype).to(device)
               for c, s in zip(TEACHER, SIZES)]
    return student, teacher


def _loss(dtype=torch.float64, device='cpu', **kwargs):
    """The fused path on every device ('auto' would take the reference on CUDA)."""
    torch.manual_seed(0)
    kwargs.setdefault('impl', 'fused')
    loss = ReviewKDLoss(STUDENT, TEACHER, mid_channels=kwargs.pop('mid_channels', 5),
                        loss_weight=0.7, **kwargs).to(device, dtype)
    for bn in (m for m in loss.modules() if isinstance(m, nn.BatchNorm2d)):
        nn.init.uniform_(bn.weight, 0.5, 1.5)  # not the identity affine, so γ and β matter
        nn.init.uniform_(bn.bias, -0.5, 0.5)
    return loss


def _grads(value, student, loss):
    return torch.autograd.grad(value, [*student, *loss.parameters()])


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


@pytest.mark.parametrize('device', DEVICES)
def test_value_gradients_and_running_statistics_match_the_reference_in_float64(device):
    loss = _loss(device=device)
    ref = copy.deepcopy(loss)
    student, teacher = _inputs(device=device)
    ours, theirs = loss(student, teacher), review_kd(ref, student, teacher)
    assert _rel(ours, theirs) < 1e-6
    for name, a, b in zip(['student'] * 5 + [n for n, _ in loss.named_parameters()],
                          _grads(ours, student, loss), _grads(theirs, student, ref)):
        assert a.shape == b.shape and _rel(a, b) < 1e-6, name
    for (name, a), b in zip(loss.named_buffers(), ref.buffers()):
        assert torch.allclose(a, b, rtol=1e-12, atol=0), name


HCL = reference.hcl  # the correct one, which the mistakes below wrap


def _unnormalised_hcl(out, teacher):
    return HCL(out, teacher) * (1 + sum(w for _, w in pool_weights(out.shape[2])))


# each replaces one equation of the reference formulation with a plausible mistake
MISTAKES = {
    'bilinear': ('upsample', lambda fused, size: F.interpolate(fused, size=size, mode='bilinear',
                                                                align_corners=False)),
    'mean-over-levels': ('hcl', lambda out, teacher: HCL(out, teacher) / len(SIZES)),
    'softmax-gate': ('gates', lambda logits: logits.softmax(1)),
    'unnormalised-hcl': ('hcl', _unnormalised_hcl),
}


@pytest.mark.parametrize('mistake', sorted(MISTAKES))
def test_the_comparison_catches_each_plausible_mistake(mistake, monkeypatch):
    """The reference with one mistake is far from the fused path at the inputs of the test above
    (beyond 1e-3 relative in value or in a gradient), so that test would catch it."""
    loss = _loss()
    ref = copy.deepcopy(loss)
    student, teacher = _inputs()
    ours = loss(student, teacher)
    monkeypatch.setattr(reference, *MISTAKES[mistake])
    wrong = review_kd(ref, student, teacher)
    gaps = [_rel(ours, wrong)] + [_rel(a, b) for a, b in zip(_grads(ours, student, loss),
                                                               _grads(wrong, student, ref))]
    assert max(gaps) > 1e-3, gaps


@pytest.mark.parametrize('device', DEVICES)
def test_eval_mode_uses_the_running_statistics_and_leaves_them(device):
    loss = _loss(device=device)
    student, teacher = _inputs(device=device)
    loss(student, teacher)  # one training step, so that the running statistics are not 0 / 1
    loss.eval()
    ref = copy.deepcopy(loss)
    buffers = [b.clone() for b in loss.buffers()]
    ours, theirs = loss(student, teacher), review_kd(ref, student, teacher)
    assert _rel(ours, theirs) < 1e-6
    for a, b in zip(_grads(ours, student, loss), _grads(theirs, student, ref)):
        assert _rel(a, b) < 1e-6
    assert all(torch.equal(a, b) for a, b in zip(loss.buffers(), buffers))


def test_momentum_none_keeps_a_cumulative_average_as_batchnorm_does():
    loss = _loss()
    for bn in (m for m in loss.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.momentum = None
    ref = copy.deepcopy(loss)
    for seed in range(3):
        student, teacher = _inputs(seed=seed)
        loss(student, teacher)
        review_kd(ref, student, teacher)
    for (name, a), b in zip(loss.named_buffers(), ref.buffers()):
        assert torch.allclose(a, b, rtol=1e-12, atol=0), name


def test_directional_derivatives_match_finite_differences():
    """(L(θ + εv) − L(θ − εv)) / 2ε against ⟨∇L, v⟩ for random directions v over every feature
    and parameter at once: a check of the written-out backward that needs no reference. Training
    mode changes the running statistics between calls, which no training-mode output reads."""
    loss = _loss(mid_channels=3)
    student, teacher = _inputs()
    tensors = [*student, *loss.parameters()]
    value = loss(student, teacher)
    grads = torch.autograd.grad(value, tensors)
    gen = torch.Generator().manual_seed(1)
    eps = 1e-6
    for _ in range(3):
        direction = [torch.randn(t.shape, generator=gen, dtype=t.dtype) for t in tensors]
        with torch.no_grad():
            values = []
            for sign in (1, -1):
                for t, v in zip(tensors, direction):
                    t.add_(sign * eps * v)
                values.append(loss(student, teacher))
                for t, v in zip(tensors, direction):
                    t.sub_(sign * eps * v)
        numeric = (values[0] - values[1]) / (2 * eps)
        analytic = sum((g * v).sum() for g, v in zip(grads, direction))
        assert abs(numeric - analytic) < 1e-6 * max(1.0, abs(analytic)), (numeric, analytic)


def test_a_second_backward_through_the_same_graph_is_refused_clearly():
    loss = _loss()
    student, teacher = _inputs()
    value = loss(student, teacher)
    value.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match='retain_graph=True'):
        value.backward()


@pytest.mark.parametrize('device', DEVICES)
def test_float32_matches_float64_in_value_and_gradients(device):
    loss64 = _loss(device=device)
    loss32 = copy.deepcopy(loss64).float()
    s64, t64 = _inputs(device=device)
    s32 = [s.detach().float().requires_grad_() for s in s64]
    # cuDNN convolutions default to TF32 on Ampere and later (about 1e-3): full float32 here
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        v64, v32 = loss64(s64, t64), loss32(s32, [t.float() for t in t64])
    assert v32.dtype == torch.float32 and _rel(v32.double(), v64) < 1e-6
    for a, b in zip(_grads(v32, s32, loss32), _grads(v64, s64, loss64)):
        assert _rel(a.double(), b) < 1e-5


@pytest.mark.parametrize('device', DEVICES)
def test_runs_in_the_parameters_dtype_under_autocast(device):
    loss = _loss(torch.float32, device)
    student, teacher = _inputs(torch.float32, device=device)
    plain = loss(student, teacher).detach()
    loss = _loss(torch.float32, device)  # the same initial state (running statistics included)
    with torch.autocast(device, dtype=torch.bfloat16):
        value = loss([s.bfloat16() for s in student], teacher)
    assert value.dtype == torch.float32
    assert _rel(value, plain) < 1e-2  # only the bfloat16 rounding of the student features


def test_gradients_reach_the_student_and_the_abfs_but_not_the_teacher():
    torch.manual_seed(0)
    backbone_s = nn.Conv2d(3, STUDENT[0], 3, padding=1)
    backbone_t = nn.Conv2d(3, TEACHER[0], 3, padding=1)
    loss = ReviewKDLoss(STUDENT[:1], TEACHER[:1], mid_channels=4)
    image = torch.randn(2, 3, 8, 8)
    loss([backbone_s(image)], [backbone_t(image)]).backward()
    assert backbone_s.weight.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in loss.parameters())
    assert backbone_t.weight.grad is None


def test_padded_detection_batch_distils_the_border_like_any_pixel():
    """mmdet pads a batch to one size; ReviewKDLoss distils the whole padded map, as the authors'
    code: a teacher that differs from the student only in the second image's padded border
    changes the loss, and the loss is the reference's on the padded maps."""
    loss = _loss()
    student, teacher = _inputs()
    moved = [t.clone() for t in teacher]
    for t, (h, w) in zip(moved, SIZES):
        t[1, :, :, -max(1, w // 4):] += 1.0  # the right quarter of image 2 is padding
    ref = copy.deepcopy(loss)
    base = loss(student, teacher)
    padded = loss(student, moved)
    assert (padded - base).abs() > 1e-3 * base
    review_kd(ref, student, teacher)  # the same BatchNorm update as ``loss`` has seen
    assert _rel(padded, review_kd(ref, student, moved)) < 1e-6


@pytest.mark.parametrize('height,expected', [
    (13, [(4, 1 / 2), (2, 1 / 4), (1, 1 / 8)]), (5, [(4, 1 / 2), (2, 1 / 4), (1, 1 / 8)]),
    (4, [(2, 1 / 2), (1, 1 / 4)]), (3, [(2, 1 / 2), (1, 1 / 4)]), (2, [(1, 1 / 2)]), (1, [])])
def test_hcl_pool_schedule_follows_the_reference_skip_rule(height, expected):
    """k ≥ H is skipped and the weight halves per size used (the authors' ``hcl``): all three
    sizes give 1/2, 1/4, 1/8 (divisor 1.875); at H = 3 or 4 the sizes 2 and 1 weigh 1/2, 1/4."""
    assert pool_weights(height) == expected


@pytest.mark.parametrize('kwargs,message', [
    (dict(student_channels=[4, 8], teacher_channels=[4]), 'levels'),
    (dict(student_channels=[], teacher_channels=[]), 'non-empty'),
    (dict(student_channels=[4, 0], teacher_channels=[4, 4]), 'student_channels'),
    (dict(student_channels=[4], teacher_channels=[4], mid_channels=0), 'mid_channels'),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReviewKDLoss(**kwargs)


@pytest.mark.parametrize('name', ['student_channels', 'teacher_channels'])
def test_an_int_instead_of_a_sequence_of_channels_is_named(name):
    """``student_channels=256`` (a single level written without the tuple) names the argument
    and the fix, not "'int' object is not iterable"."""
    kwargs = dict(student_channels=(256,), teacher_channels=(256,))
    kwargs[name] = 256
    with pytest.raises(ValueError, match=rf'{name} must be a sequence .* got 256 .*\(256,\)'):
        ReviewKDLoss(**kwargs)


@pytest.mark.parametrize('impl', ['fused', 'reference'])
def test_training_with_one_value_per_channel_is_refused_before_the_running_statistics(impl):
    """Batch 1 with a 1×1 map: nn.BatchNorm2d refuses it in training, and so does the loss,
    naming the level, instead of writing NaN into running_var; eval mode (the running
    statistics) accepts it."""
    loss = ReviewKDLoss([4, 4], [6, 6], mid_channels=3, impl=impl)
    student = [torch.randn(1, 4, 2, 2), torch.randn(1, 4, 1, 1)]
    teacher = [torch.randn(1, 6, 2, 2), torch.randn(1, 6, 1, 1)]
    buffers = [b.clone() for b in loss.buffers()]
    with pytest.raises(ValueError, match=r'ReviewKDLoss level 1 \(student 1×1, batch 1\): '
                                         'BatchNorm needs more than 1 value per channel'):
        loss(student, teacher)
    assert all(torch.equal(a, b) for a, b in zip(loss.buffers(), buffers))
    loss.eval()
    assert torch.isfinite(loss(student, teacher))


@pytest.mark.parametrize('impl', ['fused', 'reference'])
@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
def test_an_empty_batch_is_refused_naming_the_argument_and_level(impl, training):
    loss = ReviewKDLoss([4, 4], [6, 6], mid_channels=3, impl=impl).train(training)
    student = [torch.randn(0, 4, 4, 4), torch.randn(0, 4, 2, 2)]
    teacher = [torch.randn(0, 6, 4, 4), torch.randn(0, 6, 2, 2)]
    with pytest.raises(ValueError, match=r'ReviewKDLoss level 0: student \(0, 4, 4, 4\) is '
                                         r'empty \(batch 0'):
        loss(student, teacher)


def test_bad_features_name_the_level():
    loss = ReviewKDLoss([4, 8], [6, 6], mid_channels=3)
    s = [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]
    t = [torch.randn(2, 6, 8, 8), torch.randn(2, 6, 4, 4)]
    with pytest.raises(ValueError, match='built for 2 levels but got 1 student'):
        loss(s[:1], t)
    with pytest.raises(ValueError, match=r'level 1: expected student \(B, 8, H, W\)'):
        loss([s[0], s[1][:, :4]], t)
    with pytest.raises(ValueError, match='level 0: .* differ in batch or spatial size'):
        loss([s[0][..., :7], s[1]], t)


@pytest.mark.parametrize('height', [1, 2, 3, 5, 13, 200])
def test_pooling_matrices_are_adaptive_average_pooling(height):
    """The stacked matrices pool as ``F.adaptive_avg_pool2d`` does, uneven windows included."""
    x = torch.randn(2, 3, height, 7, dtype=torch.float64)
    sizes = [k for k, _ in pool_weights(height)]
    pool_h = pooling_matrix(height, sizes, x)
    pool_w = pooling_matrix(7, sizes, x)
    offset = 0
    for k in sizes:
        rows = slice(offset, offset + k)
        ours = pool_h[rows] @ x @ pool_w[rows].T
        assert torch.allclose(ours, F.adaptive_avg_pool2d(x, k), rtol=1e-12, atol=1e-15)
        offset += k


def test_convs_start_as_the_authors_init_them():
    """conv1 and conv2: kaiming-uniform with a = 1, bound √(3 / fan_in); the gate conv: PyTorch's
    default, bound 1 / √fan_in. The largest of thousands of draws lies within 2% of its bound."""
    torch.manual_seed(0)
    abf = ReviewKDLoss([64, 64], [96, 96], mid_channels=48).abfs[0]
    for weight, fan_in, bound in ((abf.conv1.weight, 64, (3 / 64) ** 0.5),
                                  (abf.conv2.weight, 48 * 9, (3 / (48 * 9)) ** 0.5),
                                  (abf.gate.weight, 96, 96 ** -0.5)):
        assert weight[0].numel() == fan_in
        assert 0.98 * bound < weight.abs().max() <= bound
