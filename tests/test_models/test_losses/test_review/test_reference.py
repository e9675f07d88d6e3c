"""The two paths of ReviewKDLoss (ARCHITECTURE.md, "Two paths in every method"): ``impl`` flipped
on one module gives the same values, gradients and BatchNorm running statistics; 'auto' resolves
per device; a missing private op sends the module to the reference path with one warning; the
reference path (what 'auto' runs on CUDA) launches fewer aten ops; no loss step synchronises."""
import ast
import copy
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from kdseg.models.losses.review import ReviewKDLoss, aten
from kdseg.models.losses.review.abf import fused_path_error
from kdseg.models.losses.review.loss import resolve_impl

SIZES = [(13, 19), (7, 10), (7, 10), (3, 5), (2, 3)]  # as test_loss.py: every upsampling case
STUDENT = [6, 8, 8, 10, 12]
TEACHER = [5, 9, 7, 11, 4]
DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
PACKAGE = Path(__file__).resolve().parents[4] / 'kdseg' / 'models' / 'losses' / 'review'


def _loss(impl, levels=5, dtype=torch.float64, device='cpu', momentum=0.1):
    torch.manual_seed(0)
    loss = ReviewKDLoss(STUDENT[-levels:], TEACHER[-levels:], mid_channels=5, loss_weight=0.7,
                        impl=impl).to(device, dtype)
    for bn in (m for m in loss.modules() if isinstance(m, nn.BatchNorm2d)):
        nn.init.uniform_(bn.weight, 0.5, 1.5)  # not the identity affine, so γ and β matter
        nn.init.uniform_(bn.bias, -0.5, 0.5)
        bn.momentum = momentum
    return loss


def _inputs(levels=5, dtype=torch.float64, device='cpu', seed=0, student_grad=True):
    gen = torch.Generator().manual_seed(seed)
    student = [torch.randn(2, c, *s, generator=gen, dtype=dtype).to(device)
               .requires_grad_(student_grad) for c, s in zip(STUDENT[-levels:], SIZES[-levels:])]
    teacher = [torch.randn(2, c, *s, generator=gen, dtype=dtype).to(device)
               for c, s in zip(TEACHER[-levels:], SIZES[-levels:])]
    return student, teacher


def _step(loss, student, teacher):
    """(value, gradients of every student feature that requires one and every parameter)."""
    value = loss(student, teacher)
    wrt = [s for s in student if s.requires_grad] + list(loss.parameters())
    return value.detach(), torch.autograd.grad(value, wrt)


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


OPTIONS = {  # every option of the loss and of its BatchNorms, and the inputs' cases
    'default': {},
    'momentum-none': dict(momentum=None),  # BatchNorm's cumulative average
    'one-level': dict(levels=1),  # no gate, no upsampling
    'two-levels': dict(levels=2),  # heights 3 and 2: HCL skips pooled sizes
    'parameters-only': dict(student_grad=False),  # features without gradient
}


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('mode', ['train', 'eval'])
@pytest.mark.parametrize('option', sorted(OPTIONS))
def test_flipping_impl_on_one_module_keeps_values_gradients_and_running_statistics(
        device, mode, option):
    """float64: the same module run with impl='fused', restored to its state before the step,
    then run with impl='reference', over two steps (the second sees the first's running
    statistics in training, or a state from a training step in eval)."""
    kwargs = dict(OPTIONS[option])
    levels, student_grad = kwargs.pop('levels', 5), kwargs.pop('student_grad', True)
    loss = _loss('fused', levels, device=device, **kwargs)
    warm_student, warm_teacher = _inputs(levels, device=device, seed=1)
    loss(warm_student, warm_teacher)  # running statistics that are not 0 / 1
    loss.train(mode == 'train')
    state = copy.deepcopy(loss.state_dict())
    steps = [_inputs(levels, device=device, seed=seed, student_grad=student_grad)
             for seed in (2, 3)]

    results = {}
    for impl in ('fused', 'reference'):
        loss.load_state_dict(state)
        loss.impl = impl
        assert loss.path(device, torch.float64) == impl
        results[impl] = [_step(loss, *inputs) for inputs in steps]
        results[impl].append({n: b.clone() for n, b in loss.named_buffers()})
    fused, ref = results['fused'], results['reference']
    names = ['student'] * (levels if student_grad else 0) + [n for n, _ in loss.named_parameters()]
    for (v_f, g_f), (v_r, g_r) in zip(fused[:2], ref[:2]):
        assert _rel(v_f, v_r) < 1e-10
        for name, a, b in zip(names, g_f, g_r):
            assert a.shape == b.shape and _rel(a, b) < 1e-10, name
    for name, value in ref[2].items():
        assert torch.allclose(fused[2][name], value, rtol=1e-12, atol=0), name
        if mode == 'eval':
            assert torch.equal(value, state[name]), name  # eval leaves them


@pytest.mark.parametrize('device', DEVICES)
def test_both_paths_agree_under_autocast_in_the_parameters_dtype(device):
    student, teacher = _inputs(dtype=torch.float32, device=device)
    values = []
    for impl in ('fused', 'reference'):
        loss = _loss(impl, dtype=torch.float32, device=device)
        with torch.autocast(device, dtype=torch.bfloat16), \
                torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            values.append(loss([s.bfloat16() for s in student], teacher))
    assert all(v.dtype == torch.float32 for v in values)
    assert _rel(values[0], values[1]) < 1e-5


def test_auto_on_the_cpu_is_the_fused_path():
    assert resolve_impl('auto', 'cpu') == resolve_impl('auto', torch.device('cpu')) == 'fused'
    auto, fused = _loss('auto'), _loss('fused')
    assert auto.path('cpu', torch.float64) == 'fused'
    student, teacher = _inputs()
    (v_a, g_a), (v_f, g_f) = _step(auto, student, teacher), _step(fused, student, teacher)
    assert torch.equal(v_a, v_f) and all(torch.equal(a, b) for a, b in zip(g_a, g_f))
    assert all(torch.equal(a, b) for a, b in zip(auto.buffers(), fused.buffers()))


@pytest.mark.parametrize('device', ['cuda', torch.device('cuda', 1), 'mps', 'xpu', 'meta'])
def test_auto_off_the_cpu_is_the_reference_path(device):
    """Measured on an H200: the fused path 1.66× slower (docs/benchmarks.md); no device other
    than the CPU has a measurement in its favour. Explicit choices are kept on every device."""
    assert resolve_impl('auto', device) == 'reference'
    assert resolve_impl('fused', device) == 'fused'
    assert resolve_impl('reference', 'cpu') == 'reference'


def test_an_invalid_impl_is_named():
    with pytest.raises(ValueError, match=r"impl must be one of 'auto', 'fused', 'reference', "
                                         r"got 'triton'"):
        ReviewKDLoss([4], [4], mid_channels=3, impl='triton')
    loss = ReviewKDLoss([4], [4], mid_channels=3)
    with pytest.raises(ValueError, match='impl must be one of'):
        loss.impl = 'Fused'
    assert loss.impl == 'auto'
    with pytest.raises(ValueError, match='impl must be one of'):
        resolve_impl(None, 'cpu')


@pytest.fixture
def fresh_probe():
    """The fused path's probe re-run for this test, and again for the tests after it."""
    fused_path_error.cache_clear()
    yield
    fused_path_error.cache_clear()


def _missing(op, error):
    real = aten.aten_op

    def lookup(name):
        if name != op:
            return real(name)
        if error is TypeError:  # found, but rejects the call
            def rejects(*args):
                raise TypeError(f'{name}() takes 3 positional arguments but {len(args)} were given')
            return rejects
        raise error(f"'_OpNamespace' 'aten' object has no attribute '{name}'")
    return lookup


@pytest.mark.parametrize('op,error', [('native_batch_norm_backward', AttributeError),
                                      ('convolution_backward', RuntimeError),
                                      ('native_batch_norm', TypeError),
                                      ('upsample_nearest2d_backward', NotImplementedError)])
@pytest.mark.parametrize('impl', ['auto', 'fused'])
def test_a_missing_private_op_falls_back_to_the_reference_with_one_warning(
        impl, op, error, monkeypatch, fresh_probe):
    """The op lookup of the fused path made to fail for one op: the module warns once, naming
    the op, and computes what impl='reference' computes (value, gradients, running statistics:
    the probe that found the failure touched none of its state, nor the global RNG)."""
    monkeypatch.setattr(aten, 'aten_op', _missing(op, error))
    loss, ref = _loss(impl), _loss('reference')
    student, teacher = _inputs()
    rng = torch.get_rng_state()
    with pytest.warns(RuntimeWarning, match=rf"impl='{impl}'.*torch\.ops\.aten\.{op} is "
                                            r'unavailable on cpu in torch\.float64') as record:
        value, grads = _step(loss, student, teacher)
    assert len([w for w in record if 'ReviewKDLoss' in str(w.message)]) == 1
    assert torch.equal(torch.get_rng_state(), rng)
    expected, expected_grads = _step(ref, student, teacher)
    assert torch.equal(value, expected)
    assert all(torch.equal(a, b) for a, b in zip(grads, expected_grads))
    assert all(torch.equal(a, b) for a, b in zip(loss.buffers(), ref.buffers()))
    assert loss.path('cpu', torch.float64) == 'reference'
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # one warning per module, not one per step
        _step(loss, student, teacher)


def test_the_fused_path_is_taken_again_once_the_ops_work(fresh_probe):
    """The probe's result is per process, device and dtype; with torch's real ops it passes."""
    assert fused_path_error(torch.device('cpu'), torch.float64) is None
    assert fused_path_error(torch.device('cpu'), torch.float32) is None


def _aten_calls(impl):
    """aten ops (nested calls included, as the profiler lists them) of one forward + backward on
    the CPU at the shapes above, in float32, after a warm-up step."""
    loss = _loss(impl, dtype=torch.float32)
    student, teacher = _inputs(dtype=torch.float32)
    loss(student, teacher).backward()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        loss(student, teacher).backward()
    return sum(event.name.startswith('aten::') for event in prof.events())


def test_auto_as_resolved_for_cuda_launches_no_more_ops_than_the_reference():
    """On an H200 the fused path is launch-bound (docs/benchmarks.md: 2594 against 1445 aten calls
    per step at the FPN shape); 'auto' takes the reference there. Counted here on the CPU
    (torch 2.13.0, this test's five levels, forward + backward): fused 2234, reference 1467,
    'auto' for a CUDA tensor 1467 (top-level ops alone: 752, 370, 370)."""
    auto_cuda = resolve_impl('auto', torch.device('cuda'))
    assert auto_cuda == 'reference'
    counts = {impl: _aten_calls(impl) for impl in ('fused', 'reference')}
    counts['auto on cuda'] = _aten_calls(auto_cuda)
    message = f'aten calls per forward + backward: {counts}'
    assert counts['auto on cuda'] <= counts['reference'], message
    assert counts['reference'] < counts['fused'], message


def test_a_fused_step_copies_nothing_from_the_host_after_the_first(monkeypatch):
    """The pooling matrices are cached (hcl.pooling_matrix); a second step builds no tensor from
    Python data."""
    loss = _loss('fused')
    student, teacher = _inputs()
    loss(student, teacher).backward()

    def forbidden(*args, **kwargs):
        raise AssertionError('torch.tensor called inside a loss step')
    monkeypatch.setattr(torch, 'tensor', forbidden)
    loss(student, teacher).backward()


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="needs a CUDA device: the GPU machine's run")
@pytest.mark.parametrize('impl', ['fused', 'reference'])
def test_a_loss_step_on_cuda_never_synchronises_with_the_host(impl):
    """torch.cuda.set_sync_debug_mode('error') raises on any synchronising call (a device-to-host
    read, a blocking host-to-device copy); two steps, forward and backward, the first included
    (the fused path's probe and the pooling matrices are built on the device)."""
    fused_path_error.cache_clear()
    loss = _loss(impl, dtype=torch.float32, device='cuda')
    student, teacher = _inputs(dtype=torch.float32, device='cuda')
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')
    try:
        for _ in range(2):
            loss(student, teacher).backward()
    finally:
        torch.cuda.set_sync_debug_mode('default')
    assert all(torch.isfinite(p.grad).all() for p in loss.parameters())


def test_the_package_imports_no_openmmlab_module():
    """Plain torch (ARCHITECTURE.md): no mmcv / mmengine / mmrazor / mmdet / mmseg import in any
    file of the package, not even inside a function."""
    files = sorted(PACKAGE.glob('*.py'))
    assert {'reference.py', 'abf.py', 'aten.py', 'loss.py'} <= {f.name for f in files}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            bad = [n for n in names if n.split('.')[0] in
                   ('mmcv', 'mmengine', 'mmrazor', 'mmdet', 'mmseg')]
            assert not bad, (path.name, bad)
