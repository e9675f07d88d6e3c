"""kdseg.engine.weights and the strict teacher: a checkpoint fits the model exactly, or nothing
is loaded and the error names the key, the missing/unexpected keys and the shapes."""
import pytest
import torch
from mmengine.runner import save_checkpoint
from torch import nn

from kdseg.engine import CheckpointMismatchError, load_weights
from kdseg.engine.weights import NonFiniteCheckpointError
from kdseg.engine.weights import select_weights

from .conftest import STUDENT, TAT_DEMO, TEACHER, build_model, demo_config


def _net(width: int = 4) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.BatchNorm2d(width), nn.Conv2d(width, 2, 1))


def _save(path, state, **extra):
    save_checkpoint({'meta': {'iter': 1}, 'state_dict': state, **extra}, str(path))
    return str(path)


def test_own_checkpoint_loads_every_tensor(tmp_path):
    src, dst = _net(), _net()
    load_weights(dst, _save(tmp_path / 'a.pth', src.state_dict()))
    for key, value in src.state_dict().items():
        assert torch.equal(dst.state_dict()[key], value), key


def test_distiller_checkpoint_gives_the_part_asked_for(tmp_path):
    student, teacher = _net(4), _net(8)
    state = {**{f'architecture.{k}': v for k, v in student.state_dict().items()},
             **{f'teacher.{k}': v for k, v in teacher.state_dict().items()},
             'distiller.distill_losses.loss.weight': torch.ones(3)}
    path = _save(tmp_path / 'distiller.pth', state)
    for model, source in ((_net(4), student), (_net(8), teacher)):
        load_weights(model, path, prefixes=('architecture.', 'teacher.'))
        for key, value in source.state_dict().items():
            assert torch.equal(model.state_dict()[key], value), key


def test_mismatch_names_key_missing_unexpected_and_shapes(tmp_path):
    model = _net(4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = dict(_net(8).state_dict())
    state.pop('2.bias')
    state['extra.weight'] = torch.zeros(1)
    path = _save(tmp_path / 'other.pth', state)
    with pytest.raises(CheckpointMismatchError) as err:
        load_weights(model, path, key='model.teacher_ckpt', what='the teacher (model.teacher)')
    message = str(err.value)
    for part in ('model.teacher_ckpt=', 'the teacher (model.teacher)', '2.bias',
                 'extra.weight', '0.weight: checkpoint (8, 3, 3, 3), model (4, 3, 3, 3)',
                 'Nothing was loaded'):
        assert part in message, (part, message)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_distiller_checkpoint_into_a_plain_model_without_prefixes_says_what_it_is():
    state = {f'architecture.{k}': v for k, v in _net().state_dict().items()}
    with pytest.raises(CheckpointMismatchError, match='distiller checkpoint'):
        select_weights(state, _net().state_dict())


def test_missing_file_names_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model.teacher_ckpt='.*nope.pth'"):
        load_weights(_net(), str(tmp_path / 'nope.pth'), key='model.teacher_ckpt')


def test_wrapper_prefix_is_stripped(tmp_path):
    src = _net()
    path = _save(tmp_path / 'ddp.pth', {f'module.{k}': v for k, v in src.state_dict().items()})
    dst = _net()
    load_weights(dst, path)
    assert torch.equal(dst.state_dict()['0.weight'], src.state_dict()['0.weight'])


# --- the strict teacher of kdseg's KDSingleTeacherDistill (kdseg.engine.distillers) ---

def _tat_with_teacher_ckpt(ckpt: str):
    cfg = demo_config(TAT_DEMO)
    cfg.model.teacher_ckpt = ckpt
    return build_model(cfg)


def test_teacher_ckpt_of_another_model_fails_while_building(tmp_path):
    student = build_model(demo_config(STUDENT))
    path = _save(tmp_path / 'student.pth', student.state_dict())
    with pytest.raises(CheckpointMismatchError) as err:
        _tat_with_teacher_ckpt(path)
    assert 'model.teacher_ckpt=' in str(err.value) and 'model.teacher' in str(err.value)
    assert 'another shape' in str(err.value)


def test_teacher_ckpt_may_be_a_distiller_checkpoint(tmp_path):
    teacher = build_model(demo_config(TEACHER))
    distiller = _tat_with_teacher_ckpt(None)
    # a distiller checkpoint whose teacher part is `teacher`
    state = distiller.state_dict()
    state.update({f'teacher.{k}': v for k, v in teacher.state_dict().items()})
    model = _tat_with_teacher_ckpt(_save(tmp_path / 'distiller.pth', state))
    model.init_weights()  # the Runner does this; it must not reset the loaded teacher
    for key, value in teacher.state_dict().items():
        assert torch.equal(model.teacher.state_dict()[key], value), key


def test_missing_teacher_ckpt_names_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match='model.teacher_ckpt='):
        _tat_with_teacher_ckpt(str(tmp_path / 'missing.pth'))


@pytest.mark.parametrize('key', ['1.running_mean', '1.running_var', '2.weight'])
def test_non_finite_tensor_is_refused_naming_it_and_nothing_is_loaded(tmp_path, key):
    state = _net().state_dict()
    state[key][1] = float('nan') if 'running' in key else float('inf')
    path = _save(tmp_path / 'nan.pth', state)
    model = _net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(NonFiniteCheckpointError) as err:
        load_weights(model, path, key='--student-init')
    assert f"--student-init='{path}'" in str(err.value) and key in str(err.value)
    assert 'Nothing was loaded' in str(err.value)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_teacher_ckpt_with_a_nan_batch_norm_statistic_fails_while_building(tmp_path):
    state = build_model(demo_config(TEACHER)).state_dict()
    state['decode_head.bottleneck.bn.running_mean'][0] = float('nan')
    with pytest.raises(NonFiniteCheckpointError) as err:
        _tat_with_teacher_ckpt(_save(tmp_path / 'teacher.pth', state))
    assert 'model.teacher_ckpt=' in str(err.value)
    assert 'decode_head.bottleneck.bn.running_mean' in str(err.value)


@pytest.mark.parametrize('side', ['student', 'teacher'])
def test_bad_recorder_source_names_side_and_key(side):
    cfg = demo_config(TAT_DEMO)
    cfg.model.distiller[f'{side}_recorders'].c5.source = 'backbone.layer9'
    with pytest.raises(ValueError) as err:
        build_model(cfg)
    message = str(err.value)
    owner = 'model.architecture' if side == 'student' else 'model.teacher'
    assert message.startswith(f'model.distiller.{side}_recorders.c5:'), message
    assert f"source='backbone.layer9' cannot record the {side} ({owner}" in message
    assert 'backbone.layer' in message.split('Closest')[1]  # the nearest real modules
