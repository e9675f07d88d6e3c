"""DistillRampHook: FRSKD's off-then-sigmoid-ramp schedule of the distillation weights, following
runner.iter, on both places a model keeps its distillation losses."""
from types import SimpleNamespace

import numpy as np
import pytest
from mmengine.dataset import InfiniteSampler
from mmengine.logging import MMLogger
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import HOOKS
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from kdseg.engine.hooks import DistillRampHook

from .conftest import distiller_runner, self_distill_runner


def _losses(runner):
    model = runner.model
    return model.distiller.distill_losses if hasattr(model, 'distiller') else model.distill_losses


def _weights(runner):
    return {n: m.loss_weight for n, m in _losses(runner).items()}


def _expected(it, begin, ramp):
    """The authors' sigmoid_rampup(epoch + 1 - warmup, num_epochs - warmup), written out with
    numpy, with the distillation terms off before the warm-up ends."""
    if it < begin:
        return 0.0
    if ramp == 0:
        return 1.0
    current = np.clip(it + 1 - begin, 0.0, ramp)
    phase = 1.0 - current / ramp
    return float(np.exp(-5.0 * phase * phase))


def _run(runner, hook, iters):
    hook.before_train(runner)
    seen = []
    for it in iters:
        runner.iter = it
        hook.before_train_iter(runner, it)
        seen.append(_weights(runner))
    return seen


@pytest.mark.parametrize('make_runner', [distiller_runner, self_distill_runner])
def test_weights_follow_the_formula_on_both_layouts(make_runner):
    begin, ramp = 5, 8
    runner = make_runner(loss_kd=2.0, loss_at=0.5)
    seen = _run(runner, DistillRampHook(begin, ramp), range(20))
    for it, weights in enumerate(seen):
        scale = _expected(it, begin, ramp)
        assert weights == pytest.approx({'loss_kd': 2.0 * scale, 'loss_at': 0.5 * scale},
                                        rel=1e-12, abs=0), it
    assert all(w == {'loss_kd': 0.0, 'loss_at': 0.0} for w in seen[:begin])
    assert 0 < seen[begin]['loss_kd'] < 2.0 * 0.05  # exp(-5 (7/8)^2) ~ 0.022: a gentle start
    scales = [w['loss_kd'] / 2.0 for w in seen]
    assert all(a < b for a, b in zip(scales[begin:begin + ramp], scales[begin + 1:begin + ramp]))
    # full weight exactly at the ramp's last iteration and from then on
    assert all(w == {'loss_kd': 2.0, 'loss_at': 0.5} for w in seen[begin + ramp - 1:])


def test_known_values():
    hook = DistillRampHook(begin_iter=2, ramp_iters=4)
    assert [hook.scale(i) for i in range(2)] == [0.0, 0.0]
    # t = 1/4, 2/4, 3/4, 1, 1
    assert [hook.scale(i) for i in range(2, 7)] == pytest.approx(
        [np.exp(-5 * 0.75**2), np.exp(-5 * 0.5**2), np.exp(-5 * 0.25**2), 1.0, 1.0])


def test_ramp_of_zero_switches_at_begin_iter_and_begin_of_zero_ramps_from_the_start():
    assert [DistillRampHook(3, 0).scale(i) for i in range(6)] == [0, 0, 0, 1, 1, 1]
    hook = DistillRampHook(0, 10)
    assert hook.scale(0) == pytest.approx(np.exp(-5 * 0.9**2))
    assert hook.scale(9) == 1.0
    assert DistillRampHook(0, 0).scale(0) == 1.0


@pytest.mark.parametrize('make_runner', [distiller_runner, self_distill_runner])
def test_a_resumed_run_continues_exactly(make_runner):
    begin, ramp = 4, 6
    seen = _run(make_runner(loss_kd=1.5, loss_at=3.0), DistillRampHook(begin, ramp), range(14))
    for start in (2, 4, 7, 12):  # a fresh process (hook and model) resumed at `start`
        resumed = _run(make_runner(loss_kd=1.5, loss_at=3.0), DistillRampHook(begin, ramp),
                       range(start, 14))
        assert resumed == seen[start:]


def test_only_the_named_losses():
    runner = self_distill_runner(loss_kd=2.0, loss_at=0.5)
    seen = _run(runner, DistillRampHook(3, 2, losses=['loss_at']), [0, 3, 4])
    assert seen[0] == {'loss_kd': 2.0, 'loss_at': 0.0}
    assert seen[1] == {'loss_kd': 2.0, 'loss_at': pytest.approx(0.5 * np.exp(-5 * 0.5**2))}
    assert seen[2] == {'loss_kd': 2.0, 'loss_at': 0.5}


def test_model_wrappers_are_unwrapped():
    runner = self_distill_runner(loss_kd=2.0)
    inner = runner.model
    # a registered model wrapper around the model, without the process group DDP would need
    wrapper = MMDistributedDataParallel.__new__(MMDistributedDataParallel)
    nn.Module.__init__(wrapper)
    wrapper.module = inner
    runner.model = wrapper
    hook = DistillRampHook(1, 0)
    hook.before_train(runner)
    runner.iter = 1
    hook.before_train_iter(runner, 0)
    assert inner.distill_losses['loss_kd'].loss_weight == 2.0
    runner.iter = 0
    hook.before_train_iter(runner, 0)
    assert inner.distill_losses['loss_kd'].loss_weight == 0.0


def test_built_from_a_config():
    hook = HOOKS.build(dict(type='DistillRampHook', begin_iter=53333, ramp_iters=26667))
    assert isinstance(hook, DistillRampHook)
    assert hook.scale(53332) == 0.0
    assert hook.scale(53333 + 26667 - 1) == 1.0


def test_clear_errors():
    with pytest.raises(ValueError, match=r'model\.distill_losses\.loss_x does not exist'):
        DistillRampHook(1, 1, losses=['loss_x']).before_train(self_distill_runner(loss_kd=1.0))
    with pytest.raises(ValueError,
                       match=r'model\.distiller\.distill_losses\.loss_x does not exist'):
        DistillRampHook(1, 1, losses=['loss_x']).before_train(distiller_runner(loss_kd=1.0))
    runner = self_distill_runner()
    runner.model.distill_losses['plain'] = nn.Identity()
    with pytest.raises(ValueError, match=r'model\.distill_losses\.plain .*no loss_weight'):
        DistillRampHook(1, 1).before_train(runner)
    with pytest.raises(ValueError, match='DistillRampHook needs distillation losses at '
                       r'model\.distiller\.distill_losses .* or model\.distill_losses .*Linear'):
        DistillRampHook(1, 1).before_train(SimpleNamespace(model=nn.Linear(1, 1), iter=0))
    with pytest.raises(ValueError, match='losses must be a list of names'):
        DistillRampHook(1, 1, losses='loss_kd').before_train(self_distill_runner(loss_kd=1.0))
    for bad in (-1, 1.0, True, '3', None):
        with pytest.raises(ValueError, match='begin_iter must be an int >= 0'):
            DistillRampHook(bad, 1)
        with pytest.raises(ValueError, match='ramp_iters must be an int >= 0'):
            DistillRampHook(1, bad)


def test_step_iters_is_the_authors_per_epoch_ramp():
    """warmup 40 of 60 epochs, E iterations an epoch: iteration i of epoch e = i // E gets the
    authors' sigmoid_rampup(e + 1 - 40, 60 - 40) for the whole epoch."""
    epochs, warmup, per_epoch = 60, 40, 7
    hook = DistillRampHook(begin_iter=warmup * per_epoch,
                           ramp_iters=(epochs - warmup) * per_epoch, step_iters=per_epoch)
    for it in range(epochs * per_epoch):
        assert hook.scale(it) == pytest.approx(
            _expected(it // per_epoch, warmup, epochs - warmup), rel=1e-12, abs=0), it
    # constant within an epoch, a new value at each epoch's first iteration
    first = warmup * per_epoch
    assert len({hook.scale(first + k) for k in range(per_epoch)}) == 1
    assert hook.scale(first + per_epoch) > hook.scale(first + per_epoch - 1)


def test_step_iters_of_one_is_the_per_iteration_ramp_and_a_ragged_last_step_ends_at_one():
    per_iter, stepped = DistillRampHook(5, 8), DistillRampHook(5, 8, step_iters=1)
    assert [per_iter.scale(i) for i in range(20)] == [stepped.scale(i) for i in range(20)]
    hook = DistillRampHook(begin_iter=2, ramp_iters=5, step_iters=2)  # steps of 2, 2, then 1
    assert [hook.scale(i) for i in range(2, 8)] == pytest.approx(
        [np.exp(-5 * 0.6**2)] * 2 + [np.exp(-5 * 0.2**2)] * 2 + [1.0, 1.0])


def test_step_iters_must_be_positive_or_epoch():
    for bad in (0, -1, 1.5, True, 'epochs', None):
        with pytest.raises(ValueError, match=r"step_iters \(or 'epoch'\) must be a positive int"):
            DistillRampHook(1, 1, step_iters=bad)


def test_step_iters_epoch_reads_one_pass_over_the_training_data():
    """'epoch' is the length of the runner's training dataloader (mmengine's InfiniteSampler, as
    the iteration-based configs use): 21 images at 3 a step hold each value for 7 iterations,
    exactly as step_iters=7."""
    data = list(range(21))
    loader = DataLoader(data, batch_size=3, sampler=InfiniteSampler(data, shuffle=False))
    runner = self_distill_runner(loss_kd=1.0)
    runner.train_dataloader, runner.logger = loader, MMLogger.get_instance('ramp_epoch_test')
    hook = DistillRampHook(begin_iter=14, ramp_iters=35, step_iters='epoch')
    with pytest.raises(RuntimeError, match='once training starts'):
        hook.scale(20)
    seen = _run(runner, hook, range(60))
    assert hook.step_iters == 7
    fixed = DistillRampHook(begin_iter=14, ramp_iters=35, step_iters=7)
    assert [w['loss_kd'] for w in seen] == [fixed.scale(i) for i in range(60)]
    assert len({w['loss_kd'] for w in seen[14:21]}) == 1 and seen[21]['loss_kd'] > seen[20]['loss_kd']


def test_step_iters_epoch_needs_a_dataloader_with_a_length():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(5))

    runner = self_distill_runner(loss_kd=1.0)
    runner.train_dataloader = DataLoader(Stream(), batch_size=2)
    with pytest.raises(ValueError, match="step_iters='epoch' needs a training dataloader with a "
                       'length'):
        DistillRampHook(1, 4, step_iters='epoch').before_train(runner)
