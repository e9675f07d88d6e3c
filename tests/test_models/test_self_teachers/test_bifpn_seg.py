"""BiFPNSegSelfTeacher against the authors' segmentation BiFPNSeg, written out in .reference_seg."""
import pytest
import torch
from torch import nn

from kdseg.models.self_teachers import BiFPNSegSelfTeacher
from kdseg.models.self_teachers.blocks import DepthwiseConv1x1Block, PointwiseConvBlock
from kdseg.registry import COMPONENTS

from . import reference_seg as ref

# Pyramids the authors' code runs on (its width-ratio scale factor is each level's exact ratio):
# their own six levels P2-P7 of a square crop at one width (no laterals), a rectangular one,
# the smallest (two levels), one and three layers; and kdseg's adaptations, which the same
# formulation covers: laterals where the widths differ, and a dilated ResNet's stages 2-4 at one
# size (the authors' Upsample(scale_factor=1.0) and interpolate to the same size are identities).
CASES = {
    'authors_six_levels': dict(in_channels=(4, ) * 6,
                               sizes=[(64, 64), (32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]),
    'rect_three_layers': dict(in_channels=(3, ) * 4, sizes=[(16, 24), (8, 12), (4, 6), (2, 3)],
                              num_layers=3),
    'two_levels_one_layer': dict(in_channels=(5, 5), sizes=[(8, 8), (4, 4)], num_layers=1),
    'laterals': dict(in_channels=(3, 4, 5, 6), channels=4,
                     sizes=[(32, 32), (16, 16), (8, 8), (4, 4)]),
    'dilated_pspnet': dict(in_channels=(3, 4, 5, 6), channels=3,
                           sizes=[(16, 32), (8, 16), (8, 16), (8, 16)]),
}


def make_teacher(case, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    kwargs = {k: v for k, v in case.items() if k != 'sizes'}
    teacher = BiFPNSegSelfTeacher(**kwargs).to(dtype)
    with torch.no_grad():  # away from the initial values, so that every parameter is exercised
        for module in teacher.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
            elif isinstance(module, DepthwiseConv1x1Block):
                module.conv.weight.uniform_(0.5, 1.5)
                module.conv.bias.uniform_(-0.5, 0.5)
    return teacher


def make_features(case, dtype=torch.float64, batch=2, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, *s, generator=gen, dtype=dtype).requires_grad_()
            for c, s in zip(case['in_channels'], case['sizes'])]


def calibrate(teacher, features):
    """Running statistics from one training-mode pass (momentum 1), for the eval-mode checks."""
    bns = [m for m in teacher.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = 1.0
    with torch.no_grad():
        teacher.train()(features)
    for bn in bns:
        bn.momentum = 0.1


def outputs_and_grads(model, features, seed=2):
    """The outputs, and the gradients of Σ_i <G_i, T_i> (random G_i) w.r.t. the features and
    every parameter, in ``model.named_parameters()`` order."""
    for f in features:
        f.grad = None
    model.zero_grad(set_to_none=True)
    outs = model(features)
    gen = torch.Generator().manual_seed(seed)
    upstream = [torch.randn(o.shape, generator=gen, dtype=torch.float64).to(o.dtype) for o in outs]
    sum((g * o).sum() for g, o in zip(upstream, outs)).backward()
    grads = [f.grad for f in features] + [p.grad for p in model.parameters()]
    return [o.detach() for o in outs], grads


@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('name', sorted(CASES))
def test_matches_the_authors_bifpnseg_in_float64(name, training):
    case = CASES[name]
    teacher = make_teacher(case)
    features = make_features(case)
    if not training:
        calibrate(teacher, features)
    teacher.train(training)
    authors = ref.load_from(teacher)
    ours, our_grads = outputs_and_grads(teacher, features)
    theirs, their_grads = outputs_and_grads(authors, features)
    assert len(ours) == len(theirs) == len(features)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)
    assert len(our_grads) == len(their_grads)  # the same parameters, in the same order
    for a, b in zip(our_grads, their_grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    if training:  # BatchNorm's running statistics move the same way
        for a, b in zip(teacher.buffers(), authors.buffers()):
            torch.testing.assert_close(a.double(), b.double(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize('name', ['authors_six_levels', 'laterals', 'dilated_pspnet'])
def test_float32_matches_float64_in_values_and_gradients(name):
    case = CASES[name]
    teacher64 = make_teacher(case)
    teacher32 = make_teacher(case, dtype=torch.float32)
    teacher32.load_state_dict(teacher64.state_dict())
    features64 = make_features(case)
    features32 = [f.detach().float().requires_grad_() for f in features64]
    outs64, grads64 = outputs_and_grads(teacher64, features64)
    outs32, grads32 = outputs_and_grads(teacher32, features32)
    for a, b in zip(outs32, outs64):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-5)
    # absolute tolerance on the scale of the largest gradient: the depthwise biases' true
    # gradient is 0 (BatchNorm follows them), which float32 gives as rounding noise
    scale = max(float(g.abs().max()) for g in grads64)
    for a, b in zip(grads32, grads64):
        torch.testing.assert_close(a.double(), b, rtol=1e-3, atol=1e-5 * scale)


@pytest.mark.parametrize('name', sorted(CASES))
def test_output_shapes_are_the_levels_at_the_common_width(name):
    case = CASES[name]
    teacher = make_teacher(case, dtype=torch.float32)
    features = make_features(case, dtype=torch.float32, batch=3)
    outs = teacher(features)
    d = case.get('channels', case['in_channels'][0])
    assert teacher.out_channels == (d, ) * len(features)
    assert [tuple(o.shape) for o in outs] == [(3, d, *f.shape[2:]) for f in features]


def test_laterals_only_where_the_width_differs():
    teacher = BiFPNSegSelfTeacher((4, 8, 4, 16), channels=4)
    kinds = [type(m) for m in teacher.laterals]
    assert kinds == [nn.Identity, PointwiseConvBlock, nn.Identity, PointwiseConvBlock]
    assert teacher.laterals[1].conv.in_channels == 8 and teacher.laterals[3].conv.out_channels == 4
    # the authors' setting: one width, no channels given, no laterals
    authors = BiFPNSegSelfTeacher((64, ) * 6)
    assert authors.channels == 64 and all(isinstance(m, nn.Identity) for m in authors.laterals)


def test_the_last_layer_is_top_down_only():
    teacher = BiFPNSegSelfTeacher((4, ) * 6)  # the authors' BiFPN2
    assert len(teacher.layers) == 2
    first, last = teacher.layers
    assert not first.top_down_only and len(first.up) == 6 and len(first.down) == 5
    assert last.top_down_only and len(last.up) == 6 and len(last.down) == 0
    # one top-down-only layer: the coarsest output reads only the coarsest input, the finest all
    single = BiFPNSegSelfTeacher((4, 4, 4), num_layers=1).double()
    features = make_features(dict(in_channels=(4, 4, 4), sizes=[(8, 8), (4, 4), (2, 2)]))
    outs = single(features)
    grads = torch.autograd.grad(outs[-1].sum(), features, allow_unused=True, retain_graph=True)
    assert grads[0] is None and grads[1] is None and grads[2].abs().sum() > 0
    grads = torch.autograd.grad(outs[0].sum(), features)
    assert all(g.abs().sum() > 0 for g in grads)


def test_every_parameter_gets_a_gradient_but_the_biases_before_batchnorm():
    """Every node is used; the depthwise convs' biases (the authors keep them) get exactly zero
    in training mode, since BatchNorm subtracts the batch mean right after them."""
    case = CASES['laterals']
    teacher = make_teacher(case)
    features = make_features(case)
    sum(o.square().sum() for o in teacher(features)).backward()
    scale = max(float(p.grad.abs().max()) for p in teacher.parameters())
    for name, p in teacher.named_parameters():
        if name.endswith('conv.bias'):  # zero up to float64 rounding
            assert p.grad.abs().max() < 1e-12 * scale, name
        else:
            assert p.grad.abs().sum() > 0, name


def test_exact_size_resampling_on_pyramids_that_do_not_halve():
    """Sizes that are not powers of two (each level the ceiling of half the previous one, as
    stride-2 convs give): every level keeps its size and the result is finite."""
    case = dict(in_channels=(3, 4, 5), channels=4, sizes=[(25, 38), (13, 19), (7, 10)])
    teacher = make_teacher(case, dtype=torch.float32)
    outs = teacher(make_features(case, dtype=torch.float32))
    assert [tuple(o.shape[2:]) for o in outs] == case['sizes']
    assert all(torch.isfinite(o).all() for o in outs)


def test_registered_as_an_frskd_component():
    assert COMPONENTS['BiFPNSegSelfTeacher'].cls is BiFPNSegSelfTeacher
    assert COMPONENTS['BiFPNSegSelfTeacher'].method == 'frskd'


@pytest.mark.parametrize('kwargs,match', [
    (dict(in_channels=(4, )), 'at least two levels'),
    (dict(in_channels=4), 'sequence'),
    (dict(in_channels=(4, 0)), r'in_channels\[1\]'),
    (dict(in_channels=(4, 8)), 'set channels'),
    (dict(in_channels=(4, 8), channels=True), 'channels must be a positive int'),
    (dict(in_channels=(4, 4), num_layers=0), 'num_layers'),
])
def test_build_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BiFPNSegSelfTeacher(**kwargs)


def test_feature_errors_name_the_level_and_the_expected_shape():
    teacher = BiFPNSegSelfTeacher((4, 8, 8), channels=4)
    good = [torch.randn(1, 4, 8, 8), torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 4)]
    with pytest.raises(ValueError, match='built for 3 levels'):
        teacher(good[:2])
    with pytest.raises(ValueError, match=r'level 1: expected a \(B, 8, H, W\)'):
        teacher([good[0], torch.randn(1, 4, 4, 4), good[2]])
    with pytest.raises(ValueError, match='fine to coarse'):
        teacher([torch.randn(1, 4, 2, 2), good[1], good[2]])
    with pytest.raises(ValueError, match='batch size'):
        teacher([good[0], torch.randn(2, 8, 4, 4), good[2]])
    with pytest.raises(ValueError, match='sequence of 3 tensors'):
        teacher(good[0])
