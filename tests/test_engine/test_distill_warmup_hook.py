"""DistillWarmupHook: linear ramp of the distillation weights, following runner.iter."""
from types import SimpleNamespace

import pytest
from torch import nn

from kdseg.engine.hooks import DistillWarmupHook

from .conftest import distiller_runner, self_distill_runner


def _weights(runner):
    return {n: m.loss_weight for n, m in runner.model.distiller.distill_losses.items()}


def test_weights_ramp_linearly_then_stay_and_follow_a_resumed_iteration():
    runner = distiller_runner(a=2.0, b=0.5)
    hook = DistillWarmupHook(4)
    hook.before_train(runner)
    seen = []
    for it in range(6):
        runner.iter = it
        hook.before_train_iter(runner, it)
        seen.append(_weights(runner))
    assert [s['a'] for s in seen] == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0])
    assert [s['b'] for s in seen] == pytest.approx([0.125, 0.25, 0.375, 0.5, 0.5, 0.5])
    resumed = distiller_runner(a=2.0, b=0.5)  # a fresh process resumed at iteration 2
    hook = DistillWarmupHook(4)
    hook.before_train(resumed)
    resumed.iter = 2
    hook.before_train_iter(resumed, 0)
    assert _weights(resumed) == pytest.approx(seen[2])


def test_only_the_named_losses_and_clear_errors():
    runner = distiller_runner(a=2.0, b=0.5)
    hook = DistillWarmupHook(2, losses=['a'])
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    assert _weights(runner) == {'a': 1.0, 'b': 0.5}
    with pytest.raises(ValueError, match=r'model\.distiller\.distill_losses\.c does not exist'):
        DistillWarmupHook(2, losses=['c']).before_train(distiller_runner(a=1.0))
    with pytest.raises(ValueError, match=r'DistillWarmupHook needs distillation losses at '
                       r'model\.distiller\.distill_losses .* or model\.distill_losses .*Linear'):
        DistillWarmupHook(2).before_train(SimpleNamespace(model=nn.Linear(1, 1), iter=0))
    for bad in (0, -1, 1.0, True):
        with pytest.raises(ValueError, match='warmup_iters must be a positive int'):
            DistillWarmupHook(bad)


def test_a_self_distillation_model_keeps_its_losses_at_model_distill_losses():
    runner = self_distill_runner(loss_kd=2.0, loss_at=0.5)
    model = runner.model
    hook = DistillWarmupHook(4, losses=['loss_kd'])
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    assert model.distill_losses['loss_kd'].loss_weight == pytest.approx(0.5)
    assert model.distill_losses['loss_at'].loss_weight == 0.5
    with pytest.raises(ValueError, match=r'model\.distill_losses\.c does not exist'):
        DistillWarmupHook(2, losses=['c']).before_train(runner)
