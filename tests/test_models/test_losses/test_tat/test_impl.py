"""TaTLoss's two code paths (``impl``): how ``'auto'`` resolves, that flipping ``impl`` on one
module changes no value, gradient or running statistic (float64, every mode), how many aten ops
each path runs per step, and that no loss step synchronises the host with the device.

``impl`` chooses the code, not the semantics: ``reference=True`` (TaT-seg's semantics) and
``impl='reference'`` (the reference formulation, :mod:`kdseg.models.losses.tat.reference`) are
independent, and every configuration below runs on both paths."""
import types

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from kdseg.models.losses.tat import TaTLoss, resolve_impl
from kdseg.models.losses.tat import loss as loss_module
from kdseg.models.losses.tat.tiling import _patch_rows

from .naive import build, close, make_inputs, params_of


# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize('device,expected', [
    ('cpu', 'fused'), (torch.device('cpu'), 'fused'),
    ('cuda', 'reference'), (torch.device('cuda', 1), 'reference'),
    ('meta', 'reference'), ('mps', 'reference'),
])
def test_auto_takes_the_path_measured_faster_on_the_device(device, expected):
    assert resolve_impl('auto', device) == expected


@pytest.mark.parametrize('impl', ['fused', 'reference'])
@pytest.mark.parametrize('device', ['cpu', 'cuda'])
def test_explicit_impl_is_taken_as_given(impl, device):
    assert resolve_impl(impl, device) == impl


def test_invalid_impl_raises_naming_the_argument():
    with pytest.raises(ValueError, match=r"impl must be one of \('auto', 'fused', 'reference'\), "
                                         r"got 'fast'"):
        TaTLoss(6, 8, num_patches=(2, 2), num_anchors=(2, 2), impl='fast')
    with pytest.raises(ValueError, match='impl must be one of'):
        resolve_impl('Reference', 'cpu')
    loss = TaTLoss(6, 8, num_patches=(2, 2), num_anchors=(2, 2))
    loss.impl = True  # the semantics flag's value, given to the wrong argument
    with pytest.raises(ValueError, match='impl must be one of'):
        loss(torch.randn(2, 6, 4, 4), torch.randn(2, 8, 4, 4))


@pytest.mark.parametrize('impl,runs_reference', [('auto', False), ('fused', False),
                                                 ('reference', True)])
def test_auto_on_cpu_runs_the_fused_path(impl, runs_reference, monkeypatch):
    calls = []
    real = loss_module.reference_formulation

    def spy(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(loss_module, 'reference_formulation', spy)
    loss = build(num_patches=(4, 3), num_anchors=(3, 2), impl=impl)
    loss(*make_inputs())
    assert bool(calls) == runs_reference
    assert 'impl=' + repr(impl) in repr(loss)


def test_reference_semantics_and_reference_formulation_are_independent():
    """Each of the four combinations of ``reference`` (semantics) and ``impl`` (code path) is
    valid, and the semantics, not the path, decide the value."""
    student, teacher = make_inputs()
    values = {}
    for semantics in (False, True):
        base = build(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2), reference=semantics)
        for impl in ('fused', 'reference'):
            loss = build(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2),
                         reference=semantics, impl=impl)
            loss.load_state_dict(base.state_dict())
            values[semantics, impl] = loss(student, teacher).detach()
    close(values[True, 'reference'], values[True, 'fused'], 1e-12)
    close(values[False, 'reference'], values[False, 'fused'], 1e-12)
    assert not torch.allclose(values[True, 'fused'], values[False, 'fused'])


# --------------------------------------------------------------------------------------------
# Parity: the same module, its impl flipped. Every mode, semantics and statistics option; with
# and without a padding mask; training and eval mode.
PARITY = {
    'tat-seg': ((13, 11), dict(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2),
                               reference=True)),  # floor tiling drops a row and two columns
    'cover-batch': ((13, 11), dict(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2))),
    'cover-sample': ((13, 11), dict(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2),
                                    bn_stats='sample')),
    'floor-batch': ((13, 11), dict(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2),
                                   tiling='floor')),
    'sizes': ((13, 11), dict(patch_size=(3, 3), anchor_size=(4, 5), patch_weight=1.3,
                             anchor_weight=0.4, loss_weight=0.7)),
    'plain-heads': ((7, 6), dict(mode='plain', num_groups=2)),
    'plain-tat-seg': ((7, 6), dict(mode='plain', num_groups=4, reference=True)),
    # 4×5 patches of 2×2 on 9×10, G = 8: the reference's heads of 2.5 patches
    'straddling-heads': ((9, 10), dict(mode='patch', num_patches=(4, 4), num_groups=8,
                                       reference=True)),
    'anchor': ((13, 11), dict(mode='anchor', num_anchors=(3, 2))),
}


def _padding(height, width):
    valid = torch.ones(3, height, width, dtype=torch.bool)
    valid[1, height * 2 // 3:] = False
    valid[1, :, width // 2:] = False
    valid[2, :, width - 2:] = False
    return valid


def _step(loss, student, teacher, valid):
    student = student.detach().clone().requires_grad_()
    teacher = teacher.detach().clone().requires_grad_()
    value = loss(student, teacher, valid_mask=valid)
    grads = torch.autograd.grad(value, [student] + params_of(loss), retain_graph=True)
    teacher_grad, = torch.autograd.grad(value, teacher, allow_unused=True)
    return value, grads, teacher_grad, {n: b.clone() for n, b in loss.named_buffers()}


@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('padded', [False, True], ids=['whole', 'padded'])
@pytest.mark.parametrize('name', list(PARITY))
def test_flipping_impl_changes_no_value_gradient_or_running_statistic(name, padded, training):
    (height, width), kwargs = PARITY[name]
    loss = build(**kwargs)
    for module in (loss.query, loss.key, loss.value):  # non-trivial running statistics
        module[1].running_mean.uniform_(-1, 1)
        module[1].running_var.uniform_(0.5, 2)
    loss.train(training)
    state = {k: v.clone() for k, v in loss.state_dict().items()}
    student, teacher = make_inputs(height=height, width=width)
    valid = _padding(height, width) if padded else None

    results = {}
    for impl in ('fused', 'reference'):
        loss.load_state_dict(state)
        loss.impl = impl
        results[impl] = _step(loss, student, teacher, valid)
    (v_f, g_f, t_f, b_f), (v_r, g_r, t_r, b_r) = results['fused'], results['reference']
    close(v_r, v_f, 1e-10)
    for got, want in zip(g_r, g_f):  # student, then every parameter
        close(got, want, 1e-9, 1e-13)
    assert t_f is None and t_r is None  # the teacher side is detached on both paths
    for name_, buffer in b_f.items():
        if training:
            close(b_r[name_].double(), buffer.double(), 1e-12, 1e-15)
        else:
            assert torch.equal(b_r[name_], state[name_]), name_
    if training:
        assert not torch.equal(b_f['query.1.running_mean'], state['query.1.running_mean'])


# --------------------------------------------------------------------------------------------
OP_COUNT = {
    'tat-seg': dict(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2), reference=True),
    'kdseg-default': dict(patch_size=(3, 3), anchor_size=(4, 5)),
    'plain-tat-seg': dict(mode='plain', reference=True),
}


def _aten_ops_per_step(loss, student, teacher):
    """aten ops (every ``aten::`` event the profiler records, nested ones included) of one
    forward + backward, after a warm-up step."""
    loss(student, teacher).backward()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        loss(student, teacher).backward()
    return sum(1 for e in prof.events() if e.name.startswith('aten::'))


@pytest.mark.parametrize('name', list(OP_COUNT))
def test_the_path_auto_takes_on_cuda_runs_no_more_ops_than_the_fused_one(name):
    """A GPU step at these sizes is bound by kernel launches, so the path ``'auto'`` resolves to
    on CUDA must not launch more ops than the fused path. Counted on CPU, float32, B = 2,
    6 → 8 channels, 13 × 11. Measured here (torch 2.13.0+cpu, 2 threads): tat-seg fused 1307 /
    reference 942; kdseg-default fused 1475 / reference 866; plain-tat-seg fused 837 / reference
    682 (the counts vary a little with the thread count and the torch version; the assertion
    message gives this run's)."""
    loss = build(torch.float32, **OP_COUNT[name])
    student, teacher = make_inputs(batch=2, dtype=torch.float32)
    counts = {}
    for impl in ('fused', 'reference'):
        loss.impl = impl
        counts[impl] = _aten_ops_per_step(loss, student, teacher)
    cuda_path = resolve_impl('auto', 'cuda')
    loss.impl = cuda_path
    on_cuda = _aten_ops_per_step(loss, student, teacher)
    message = (f"{name}: aten ops per forward+backward: fused {counts['fused']}, reference "
               f"{counts['reference']}; 'auto' on CUDA → {cuda_path!r}: {on_cuda}")
    assert on_cuda <= counts['reference'], message  # the same path
    assert on_cuda <= counts['fused'], message


# --------------------------------------------------------------------------------------------
SYNC_FREE = {
    'tat-seg': dict(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2), reference=True),
    'kdseg-default': dict(patch_size=(3, 3), anchor_size=(4, 5)),
    'plain': dict(mode='plain', num_groups=2),
    'straddling-heads': dict(mode='patch', num_patches=(4, 4), num_groups=8, reference=True),
}


def _padded_samples(batch, stride=8):
    """data_samples-like objects: the second image covers the top-left 9×7 of a 13×11 map."""
    shapes = [(13 * stride, 11 * stride), (9 * stride, 7 * stride)] + [(13 * stride, 11 * stride)]
    return [types.SimpleNamespace(metainfo=dict(img_shape=shape,
                                                batch_input_shape=(13 * stride, 11 * stride)))
            for shape in shapes[:batch]]


@pytest.mark.parametrize('impl', ['fused', 'reference'])
@pytest.mark.parametrize('name', list(SYNC_FREE))
def test_a_step_reads_no_tensor_value_on_the_host(name, impl):
    """On the meta device tensors have no values, so any host read of one (``.item()``,
    ``bool(t)``, ``nonzero``, a data-dependent shape) fails: a CPU-side check of what the CUDA
    test below checks on a GPU (a host read there is a synchronisation)."""
    loss = TaTLoss(6, 8, impl=impl, **SYNC_FREE[name]).to('meta')
    height, width = (9, 10) if name == 'straddling-heads' else (13, 11)
    student = torch.randn(3, 6, height, width, device='meta', requires_grad=True)
    teacher = torch.randn(3, 8, height, width, device='meta')
    valid = torch.ones(3, height, width, dtype=torch.bool, device='meta')
    for kwargs in (dict(), dict(valid_mask=valid), dict(data_samples=_padded_samples(3))):
        value = loss(student, teacher, **kwargs)
        value.backward()
        assert value.device.type == 'meta' and student.grad.shape == student.shape


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="needs a CUDA device: the GPU machine's run")
@pytest.mark.parametrize('impl', ['fused', 'reference', 'auto'])
@pytest.mark.parametrize('name', list(SYNC_FREE))
def test_a_cuda_step_does_not_synchronise(name, impl):
    """Forward and backward on CUDA under ``torch.cuda.set_sync_debug_mode('error')``, with and
    without padding (``valid_mask``, ``data_samples``). One warm-up step first (cuBLAS / cuDNN
    set-up), then the tile layouts are dropped from their cache, so the checked steps include
    building one and copying it to the device."""
    loss = build(torch.float32, **SYNC_FREE[name]).cuda()
    loss.impl = impl
    height, width = (9, 10) if name == 'straddling-heads' else (13, 11)
    student, teacher = (x.float().cuda() for x in make_inputs(height=height, width=width))
    student = student.detach().requires_grad_()
    valid = torch.ones(3, height, width, dtype=torch.bool, device='cuda')
    valid[1, 9:] = False
    loss(student, teacher).backward()
    torch.cuda.synchronize()
    _patch_rows.cache_clear()
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode('error')
    try:
        for kwargs in (dict(), dict(), dict(valid_mask=valid),
                       dict(data_samples=_padded_samples(3))):
            loss(student, teacher, **kwargs).backward()
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    torch.cuda.synchronize()
    assert torch.isfinite(student.grad).all()
