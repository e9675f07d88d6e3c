"""NaNGuardHook: non-finite losses, parameters and buffers stop the run naming the tensor, and
the message says which parameter grew most before it."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from kdseg.engine.finite import non_finite
from kdseg.engine.hooks import NaNGuardHook, NonFiniteTrainingError


class Distiller(nn.Module):
    """The layout of an mmrazor distiller: a trainable student, a frozen teacher in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.architecture = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.teacher = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.teacher.requires_grad_(False)
        self.teacher.eval()


class MessageHub:
    def get_info(self, key):
        return None


def _runner(model: nn.Module, iteration: int = 0) -> SimpleNamespace:
    return SimpleNamespace(model=model, iter=iteration, message_hub=MessageHub(),
                           optim_wrapper=SimpleNamespace())


def _after(hook: NaNGuardHook, runner, loss: float = 1.0) -> None:
    hook.after_train_iter(runner, 0, outputs={'decode.loss_ce': torch.tensor(loss)})
    runner.iter += 1


def test_non_finite_names_floating_tensors_in_order():
    named = [('a', torch.ones(2)), ('b', torch.tensor([1.0, float('nan')])),
             ('c', torch.tensor([3, 4])), ('d', torch.tensor([float('-inf')])),
             ('e', torch.zeros(0))]
    assert non_finite(named) == ['b', 'd']
    assert non_finite(named[:1]) == []


def test_before_train_names_a_nan_teacher_buffer():
    model = Distiller()
    model.teacher[1].running_mean[2] = float('nan')
    with pytest.raises(NonFiniteTrainingError) as err:
        NaNGuardHook().before_train(_runner(model))
    message = str(err.value)
    assert 'teacher.1.running_mean of the teacher (model.teacher) is not finite' in message


def test_a_buffer_of_a_training_module_is_checked_after_each_iteration():
    model = Distiller()
    hook, runner = NaNGuardHook(), _runner(model)
    hook.before_train(runner)
    _after(hook, runner)
    model.architecture[1].running_var[0] = float('inf')
    with pytest.raises(NonFiniteTrainingError) as err:
        _after(hook, runner)
    assert 'Training stopped at iteration 2: architecture.1.running_var of the student' in \
        str(err.value)


def test_a_frozen_eval_mode_teacher_is_not_rechecked_every_iteration():
    model = Distiller()
    hook, runner = NaNGuardHook(), _runner(model)
    hook.before_train(runner)
    # (it cannot change during training: no gradient, no statistics update in eval mode)
    model.teacher[1].running_mean[0] = float('nan')
    _after(hook, runner)


def test_the_message_names_the_parameter_that_grew_most_and_by_how_much():
    model = Distiller()
    hook, runner = NaNGuardHook(), _runner(model)
    hook.before_train(runner)
    start = float(model.architecture[0].bias.norm())
    with torch.no_grad():  # iteration 1: an update that multiplies one bias by 1e11
        model.architecture[0].bias.mul_(1e11)
    _after(hook, runner)  # finite: passes, as the lr=1e12 run did at iteration 1
    with pytest.raises(NonFiniteTrainingError) as err:
        _after(hook, runner, loss=float('nan'))
    message = str(err.value)
    assert 'non-finite loss: decode.loss_ce=nan' in message
    assert 'From the start of this run (iteration 0) to iteration 1: architecture.0.bias norm ' \
        f'{start:.4g} → {start * 1e11:.4g} (×1e+11)' in message
    assert 'Largest parameter growth since the previous check (iteration 1) to iteration 2' in \
        message


def test_an_overflowing_norm_is_reported_as_such():
    model = Distiller()
    hook, runner = NaNGuardHook(), _runner(model)
    hook.before_train(runner)
    with torch.no_grad():
        model.architecture[0].weight.fill_(1e30)  # finite, but its L2 norm overflows float32
    with pytest.raises(NonFiniteTrainingError, match='architecture.0.weight of the student '
                       r'\(model.architecture\) has an L2 norm beyond the float32 range'):
        _after(hook, runner)
