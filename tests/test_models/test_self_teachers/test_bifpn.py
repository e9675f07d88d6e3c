"""BiFPNSelfTeacher against the independent BiFPNc formulation in .reference (METHODS.md s. 4)."""
import copy

import pytest
import torch
from torch import nn

from kdseg.models.self_teachers import BiFPNSelfTeacher
from kdseg.models.self_teachers.blocks import FastNormalizedFusion

from . import reference as ref

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])

# Halving pyramids, where the module must compute the reference's function: the CIFAR ResNet
# shapes with 4 levels, the smallest pyramid (2 levels: the top node right after T_0),
# rectangular maps with width 1 and 3 separable units, and an odd deepest level (ImageNet-like
# 28, 14, 7: the "same" pool pads an even map by (0, 1)).
HALVING = {
    'four_levels': dict(channels=(3, 4, 5, 6), sizes=[(32, 32), (16, 16), (8, 8), (4, 4)]),
    'two_levels': dict(channels=(4, 6), sizes=[(8, 8), (4, 4)]),
    'rect_width1_depth3': dict(channels=(3, 4, 5), sizes=[(16, 24), (8, 12), (4, 6)], width=1,
                               depth=3),
    'odd_top_depth1_width3': dict(channels=(2, 3, 4), sizes=[(28, 12), (14, 6), (7, 3)],
                                  width=3, depth=1),
}
# kdseg's generalisations: a dilated ResNet (stages 2-4 share stride 8) and sizes that are not
# powers of two (each level the ceiling of half the previous one, as stride-2 convs give).
DILATED = dict(channels=(3, 4, 5, 6), sizes=[(16, 16), (8, 8), (8, 8), (8, 8)])
ODD = dict(channels=(3, 4, 5), sizes=[(25, 38), (13, 19), (7, 10)])
# neither equal nor ⌈n/2⌉ (a quarter in height): adaptive max pooling; then a pair that halves
# only the width (a per-dimension "same" pool) and an equal pair
ADAPTIVE = dict(channels=(3, 4, 5, 6), sizes=[(24, 20), (6, 10), (6, 5), (6, 5)])


def make_teacher(channels, width=2, depth=2, dtype=torch.float64, device='cpu', seed=0):
    torch.manual_seed(seed)
    teacher = BiFPNSelfTeacher(channels, width=width, depth=depth).to(device, dtype)
    with torch.no_grad():  # away from the initial values, so that every parameter is exercised
        for module in teacher.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
            elif isinstance(module, FastNormalizedFusion):
                module.weight.uniform_(0.2, 1.8)
    return teacher


def make_features(channels, sizes, dtype=torch.float64, device='cpu', batch=2, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, *s, generator=gen, dtype=dtype).to(device).requires_grad_()
            for c, s in zip(channels, sizes)]


def calibrate_running_statistics(teacher, features):
    """Running statistics from one training-mode pass (not the initial 0 and 1, which can leave
    whole stacks dead in eval mode at these tiny widths)."""
    bns = [m for m in teacher.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = 1.0
    with torch.no_grad():
        teacher.train()(features)
    for bn in bns:
        bn.momentum = 0.1


def assert_matches(teacher, features, training, up, down):
    """Outputs and gradients (w.r.t. the features and every parameter) agree at 1e-6 relative."""
    if not training:
        calibrate_running_statistics(teacher, features)
    teacher.train(training)
    params = list(teacher.parameters())
    ours = teacher(features)
    expected = ref.bifpnc(teacher, features, training, up=up, down=down)
    assert len(ours) == len(expected)
    for out, exp, f, c in zip(ours, expected, features, teacher.out_channels):
        assert out.shape == (f.shape[0], c, *f.shape[2:])
        torch.testing.assert_close(out, exp, rtol=1e-6, atol=1e-12)
    gen = torch.Generator().manual_seed(2)
    upstream = [torch.randn(e.shape, generator=gen, dtype=e.dtype).to(e.device) for e in expected]
    inputs = [*features, *params]
    grads = torch.autograd.grad(ours, inputs, upstream)
    expected_grads = torch.autograd.grad(expected, inputs, upstream)
    names = [f'feature {i}' for i in range(len(features))] + \
        [name for name, _ in teacher.named_parameters()]
    for name, grad, exp in zip(names, grads, expected_grads):
        assert grad.abs().sum() > 0, name
        torch.testing.assert_close(grad, exp, rtol=1e-6, atol=1e-10 * exp.abs().max().item(),
                                   msg=lambda m: f'{name}: {m}')


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('case', HALVING.values(), ids=HALVING.keys())
def test_halving_pyramid_matches_reference_formulation(case, training, device):
    case = dict(case)
    sizes = case.pop('sizes')
    teacher = make_teacher(device=device, **case)
    features = make_features(case['channels'], sizes, device=device)
    assert_matches(teacher, features, training, up=ref.upsample_by_two, down=ref.same_maxpool)


@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
def test_dilated_backbone_equals_formulation_without_resampling_between_equal_levels(training):
    # levels 1-3 share 8×8: the formulation skips the resampling there (and asserts that every
    # other pair halves), so agreement shows the identity is all that happens between them
    teacher = make_teacher(DILATED['channels'])
    features = make_features(DILATED['channels'], DILATED['sizes'])
    assert_matches(teacher, features, training, up=ref.identity_when_equal(ref.upsample_by_two),
                   down=ref.identity_when_equal(ref.same_maxpool))


def test_odd_sizes_use_exact_nearest_upsampling_and_the_same_pool():
    # 25×38 ← 13×19 ← 7×10: upsampling to the exact size by nearest, downsampling by the
    # reference's "same" pool (odd and even sizes alike give ⌈n/2⌉)
    teacher = make_teacher(ODD['channels'])
    features = make_features(ODD['channels'], ODD['sizes'])
    assert_matches(teacher, features, True, up=ref.upsample_nearest, down=ref.same_maxpool)


@pytest.mark.parametrize('case', [DILATED, ODD, ADAPTIVE], ids=['dilated', 'odd', 'adaptive'])
def test_shapes_and_finite_gradients_for_kdseg_pyramids(case):
    teacher = make_teacher(case['channels'], dtype=torch.float32)
    features = make_features(case['channels'], case['sizes'], dtype=torch.float32)
    outputs = teacher(features)
    for out, f, c in zip(outputs, features, case['channels']):
        assert out.shape == (f.shape[0], 2 * c, *f.shape[2:])
        assert torch.isfinite(out).all() and (out >= 0).all()
    sum((out * torch.randn_like(out)).sum() for out in outputs).backward()
    for name, param in [*((f'feature {i}', f) for i, f in enumerate(features)),
                        *teacher.named_parameters()]:
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_reference_layer_structure_and_defaults():
    teacher = BiFPNSelfTeacher((3, 4, 5))
    assert teacher.width == 2 and teacher.depth == 2
    assert teacher.in_channels == (3, 4, 5) and teacher.out_channels == (6, 8, 10)
    d = teacher.out_channels
    assert [m.conv.weight.shape[:2] for m in teacher.lateral_td] == [(6, 3), (8, 4), (10, 5)]
    assert [m.conv.weight.shape[:2] for m in teacher.lateral_bu] == [(8, 4), (10, 5)]
    assert [m.conv.weight.shape[:2] for m in teacher.up_pw] == [(d[0], d[1]), (d[1], d[2])]
    assert [m.conv.weight.shape[:2] for m in teacher.down_pw] == [(d[1], d[0]), (d[2], d[1])]
    assert [f.weight.tolist() for f in teacher.td_fusion] == [[1.0, 1.0], [1.0, 1.0]]
    assert [f.weight.tolist() for f in teacher.bu_fusion] == [[1.0, 1.0, 1.0], [1.0, 1.0]]
    assert all(f.eps == 1e-6 for f in [*teacher.td_fusion, *teacher.bu_fusion])
    for sep, channels in zip([*teacher.td_sep, *teacher.bu_sep], [d[0], d[1], d[1], d[2]]):
        assert len(sep.units) == 2
        for unit in sep.units:
            assert unit.depthwise.groups == channels and unit.depthwise.kernel_size == (3, 3)
            assert unit.depthwise.padding == (1, 1) and unit.pointwise.kernel_size == (1, 1)
    assert isinstance(teacher.td_sep[0].units[0].relu, nn.Identity)
    assert isinstance(teacher.td_sep[0].units[1].relu, nn.ReLU)
    for module in teacher.modules():
        if isinstance(module, nn.Conv2d):
            assert module.bias is None
        if isinstance(module, nn.BatchNorm2d):
            assert (module.eps, module.momentum, module.affine) == (1e-5, 0.1, True)


def test_features_are_not_modified_and_outputs_do_not_alias_them():
    teacher = make_teacher((3, 4), dtype=torch.float32)
    features = [torch.randn(2, 3, 8, 8), torch.randn(2, 4, 4, 4)]
    copies = [f.clone() for f in features]
    with torch.no_grad():
        teacher(features)
    for f, c in zip(features, copies):
        assert torch.equal(f, c)


@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
def test_float32_agrees_with_float64(training):
    case = HALVING['four_levels']
    teacher64 = make_teacher(case['channels']).train(training)
    teacher32 = copy.deepcopy(teacher64).float()
    features64 = make_features(case['channels'], case['sizes'])
    features32 = [f.detach().float().requires_grad_() for f in features64]
    out64, out32 = teacher64(features64), teacher32(features32)
    for a, b in zip(out32, out64):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-5 * b.abs().max().item())
    sum(o.square().sum() for o in out64).backward()
    sum(o.square().sum() for o in out32).backward()
    for a, b in zip(features32, features64):
        torch.testing.assert_close(a.grad.double(), b.grad, rtol=1e-3,
                                   atol=1e-4 * b.grad.abs().max().item())


def test_every_fusion_weight_gets_a_gradient():
    teacher = make_teacher((3, 4, 5, 6), dtype=torch.float32)
    features = make_features((3, 4, 5, 6), DILATED['sizes'], dtype=torch.float32)
    sum((o * torch.randn_like(o)).sum() for o in teacher(features)).backward()
    for fusion in [*teacher.td_fusion, *teacher.bu_fusion]:
        assert fusion.weight.grad is not None and (fusion.weight.grad != 0).all()


CONSTRUCTOR_ERRORS = {
    'not_a_sequence': (dict(in_channels=8), r'in_channels must be a sequence'),
    'string': (dict(in_channels='48'), r'in_channels must be a sequence'),
    'one_level': (dict(in_channels=(8,)), r'at least two levels'),
    'zero_channels': (dict(in_channels=(8, 0)), r'in_channels\[1\] must be a positive int'),
    'bool_channels': (dict(in_channels=(True, 8)), r'in_channels\[0\] must be a positive int'),
    'float_channels': (dict(in_channels=(8, 4.0)), r'in_channels\[1\] must be a positive int'),
    'zero_width': (dict(in_channels=(8, 4), width=0), r'width must be a positive int, got 0'),
    'float_width': (dict(in_channels=(8, 4), width=1.5), r'width must be a positive int'),
    'bool_width': (dict(in_channels=(8, 4), width=True), r'width must be a positive int'),
    'zero_depth': (dict(in_channels=(8, 4), depth=0), r'depth must be a positive int, got 0'),
}


@pytest.mark.parametrize('kwargs, message', CONSTRUCTOR_ERRORS.values(),
                         ids=CONSTRUCTOR_ERRORS.keys())
def test_constructor_errors_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BiFPNSelfTeacher(**kwargs)


def _x(c, h, w, b=2):
    return torch.zeros(b, c, h, w)


FORWARD_ERRORS = {
    'single_tensor': (_x(4, 8, 8), r'features must be a sequence of 2 tensors '
                      r'\(B, 4, H_0, W_0\), \(B, 6, H_1, W_1\), shallow to deep; got Tensor'),
    'too_many_levels': ([_x(4, 8, 8), _x(6, 4, 4), _x(6, 2, 2)],
                        r'built for 2 levels \(in_channels=\(4, 6\)\) but got 3 features'),
    'channels': ([_x(4, 8, 8), _x(5, 4, 4)],
                 r'level 1: expected a \(B, 6, H, W\) feature \(in_channels\[1\]=6\), '
                 r'got \(2, 5, 4, 4\)'),
    'deep_to_shallow': ([_x(6, 4, 4), _x(4, 8, 8)], r'level 0: expected a \(B, 4, H, W\)'),
    'three_dims': ([torch.zeros(4, 8, 8), _x(6, 4, 4)], r'level 0: .* got \(4, 8, 8\)'),
    'not_a_tensor': ([_x(4, 8, 8), [1.0]], r'level 1: .* got list'),
    'batch': ([_x(4, 8, 8), _x(6, 4, 4, b=3)], r'level 1: batch size 3 differs from level 0'),
    'larger_height': ([_x(4, 8, 8), _x(6, 16, 4)],
                      r'level 1: size \(16, 4\) is larger than level 0\'s \(8, 8\)'),
    'larger_width': ([_x(4, 8, 8), _x(6, 4, 9)], r'level 1: size \(4, 9\) is larger'),
}


@pytest.mark.parametrize('features, message', FORWARD_ERRORS.values(), ids=FORWARD_ERRORS.keys())
def test_forward_errors_name_the_level(features, message):
    with pytest.raises(ValueError, match=message):
        BiFPNSelfTeacher((4, 6))(features)
