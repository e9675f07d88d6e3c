"""StudentInitHook: the student starts from the given weights and the generators from the seed."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from kdseg.engine import CheckpointMismatchError, StudentInitHook


class Distiller(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.architecture = nn.Linear(3, 2)
        self.teacher = nn.Linear(3, 4)


@pytest.fixture
def init(tmp_path):
    torch.manual_seed(123)
    state = nn.Linear(3, 2).state_dict()
    path = str(tmp_path / 'init.pth')
    torch.save(dict(state_dict=state), path)
    return path, state


def test_student_of_a_distiller_and_every_generator_start_alike(init):
    path, state = init
    model = Distiller()
    teacher = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    StudentInitHook(path).before_train(SimpleNamespace(iter=0, model=model, seed=7))
    for key, value in state.items():
        assert torch.equal(model.architecture.state_dict()[key], value)
    for key, value in teacher.items():  # the teacher is not touched
        assert torch.equal(model.teacher.state_dict()[key], value)
    draws = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(draws, torch.rand(3))


def test_plain_model_loads_and_a_resumed_run_keeps_its_weights(init):
    path, state = init
    model = nn.Linear(3, 2)
    StudentInitHook(path).before_train(SimpleNamespace(iter=0, model=model, seed=0))
    assert torch.equal(model.weight, state['weight'])
    resumed = nn.Linear(3, 2)
    kept = resumed.weight.clone()
    StudentInitHook(path).before_train(SimpleNamespace(iter=5, model=resumed, seed=0))
    assert torch.equal(resumed.weight, kept)


def test_a_checkpoint_of_another_student_is_refused_naming_the_flag(init):
    path, _ = init
    with pytest.raises(CheckpointMismatchError, match='--student-init'):
        StudentInitHook(path).before_train(
            SimpleNamespace(iter=0, model=nn.Linear(3, 5), seed=0))
