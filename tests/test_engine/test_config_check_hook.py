"""ConfigCheckHook's checks: num_classes against the datasets, and every distillation loss run
on one real batch, each failure naming the config key, student or teacher, and the shapes."""
import re

import pytest
import torch

from kdseg.engine.hooks import NonFiniteTrainingError
from kdseg.engine.hooks.config_check_hook import check_distill_losses, check_num_classes
from kdseg.engine.hooks.rng_state_hook import get_rng_state

from .conftest import STUDENT, TAT_DEMO, build_model, demo_config


def _tat(**changes):
    """The demo TaT distiller with ``changes`` applied to its distiller config."""
    cfg = demo_config(TAT_DEMO)
    for key, value in changes.items():
        node = cfg.model.distiller
        *path, last = key.split('.')
        for part in path:
            node = node[part]
        node[last] = value
    return build_model(cfg)


def test_a_correct_distiller_passes_and_nothing_changes(train_batch):
    model = _tat()
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = get_rng_state()
    lines = check_distill_losses(model, train_batch)
    assert len(lines) == 1 and lines[0].startswith('loss_tat: ')
    assert model.training and model.architecture.training
    for key, value in model.state_dict().items():  # BN running statistics included
        assert torch.equal(value, state[key]), key
    after = get_rng_state()
    assert torch.equal(after['torch'], rng['torch']) and after['python'] == rng['python']
    assert (after['numpy'][1] == rng['numpy'][1]).all()


def test_wrong_student_channels_names_the_argument_and_shapes(train_batch):
    model = _tat(**{'distill_losses.loss_tat.student_channels': 64})
    with pytest.raises(ValueError) as err:
        check_distill_losses(model, train_batch)
    message = str(err.value)
    assert message.startswith('model.distiller.distill_losses.loss_tat.student_channels: '), message
    assert 'student_channels=64' in message
    assert "student (student, recorder='c5', data_idx=3): (2, 128, 8, 16)" in message
    assert "teacher (teacher, recorder='c5', data_idx=3): (2, 512, 8, 16)" in message


def test_feature_size_mismatch_names_the_loss(train_batch):
    # C2 of the student (stride 4, 16 channels) against C5 of the teacher (stride 8)
    model = _tat(**{'distill_losses.loss_tat.student_channels': 16,
                    'loss_forward_mappings.loss_tat.student.data_idx': 0})
    with pytest.raises(ValueError) as err:
        check_distill_losses(model, train_batch)
    message = str(err.value)
    assert message.startswith('model.distiller.distill_losses.loss_tat: '), message
    assert 'differ in H×W' in message and '(2, 16, 16, 32)' in message


@pytest.mark.parametrize('side', ['student', 'teacher'])
def test_data_idx_out_of_range_names_mapping_and_side(train_batch, side):
    model = _tat(**{f'loss_forward_mappings.loss_tat.{side}.data_idx': 7})
    with pytest.raises(ValueError) as err:
        check_distill_losses(model, train_batch)
    message = str(err.value)
    assert message.startswith(f'model.distiller.loss_forward_mappings.loss_tat.{side}: '), message
    assert f'data_idx=7 from the {side}' in message


def test_the_failing_loss_among_several_is_named(train_batch):
    cfg = demo_config(TAT_DEMO)
    distiller = cfg.model.distiller
    good = distiller.distill_losses.loss_tat
    distiller.distill_losses = dict(loss_tat_c5=good, loss_tat_c4=dict(good, student_channels=64))
    mapping = distiller.loss_forward_mappings.loss_tat
    distiller.loss_forward_mappings = dict(
        loss_tat_c5=mapping,
        loss_tat_c4=dict(student=dict(mapping.student, data_idx=2),
                         teacher=dict(mapping.teacher, data_idx=2)))
    with pytest.raises(ValueError) as err:
        check_distill_losses(build_model(cfg), train_batch)
    assert str(err.value).startswith(
        'model.distiller.distill_losses.loss_tat_c4.teacher_channels: '), str(err.value)


def test_plain_model_is_not_dry_run(train_batch):
    assert check_distill_losses(build_model(demo_config(STUDENT)),
                                train_batch) == []


def test_num_classes_mismatch_names_student_and_teacher_keys(train_dataset):
    model = _tat()
    check_num_classes(model, {'train_dataloader.dataset': train_dataset})  # 19 = 19
    cfg = demo_config(TAT_DEMO)
    cfg.model.architecture.decode_head.num_classes = 21
    cfg.model.teacher.auxiliary_head.num_classes = 18
    with pytest.raises(ValueError) as err:
        check_num_classes(build_model(cfg), {'train_dataloader.dataset': train_dataset})
    message = str(err.value)
    assert 'model.architecture.decode_head.num_classes=21' in message
    assert 'model.teacher.auxiliary_head.num_classes=18' in message
    assert 'train_dataloader.dataset has 19 classes' in message


FRSKD_DEMO = 'frskd/demo/frskd_pspnet_r18-narrow_synthcity.py'


def test_frskd_self_distillation_is_dry_run_and_a_wrong_self_teacher_is_named(train_batch):
    cfg = demo_config(FRSKD_DEMO)
    model = build_model(cfg)
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    lines = check_distill_losses(model, train_batch)
    assert [line.split(':')[0] for line in lines] == ['loss_kd', 'loss_at']
    assert model.training
    for key, value in model.state_dict().items():  # the self-teacher's BN statistics included
        assert torch.equal(value, state[key]), key

    cfg.model.self_teacher.in_channels = (16, 32, 32, 128)  # the third stage has 64 channels
    with pytest.raises(ValueError, match=r'model\.self_teacher: .*in_channels\[2\]=32.*'
                                         r'The student gives 4 levels'):
        check_distill_losses(build_model(cfg), train_batch)


def test_a_non_finite_dry_run_loss_names_the_first_module_whose_output_is_not_finite(
        train_batch):
    model = _tat()
    with torch.no_grad():  # finite weights whose output overflows: the weights pass their check
        model.teacher.backbone.layer4[0].conv1.weight.fill_(3e38)
    with pytest.raises(NonFiniteTrainingError) as err:
        check_distill_losses(model, train_batch)
    message = str(err.value)
    assert 'distill.loss_tat=nan' in message or 'distill.loss_tat=inf' in message, message
    # conv1's output overflows, or (if its inputs are small enough) the next conv's: both are in
    # the block whose weights were changed, and nothing before it is named
    assert re.search(r'The first module whose output is not finite: '
                     r'model\.teacher\.backbone\.layer4\[0\]\.conv[12] \(Conv2d\)', message), \
        message
