"""What a new user's mistakes now do, through the same commands they type: a non-finite loss or
weight stops training before it is checkpointed; a bad distillation config fails before iteration
1 naming the key; tools/test.py refuses a checkpoint that does not fit; the flagship config without
its dataset says what is missing and what to do."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from kdseg.compat import safe_torch_load

from .conftest import ROOT

pytestmark = pytest.mark.e2e

TEACHER = 'demo_models/pspnet_r50-narrow_synthcity.py'
STUDENT = 'demo_models/pspnet_r18-narrow_synthcity.py'
TAT = 'tat/demo/tat_pspnet_r50-narrow_r18-narrow_synthcity.py'


def test_non_finite_weights_stop_training_and_keep_the_last_good_checkpoint(tools):
    out = tools.run(tools.train_args(STUDENT, 'lr_huge', 4, 'optim_wrapper.optimizer.lr=1e12',
                                     'default_hooks.checkpoint.interval=1'), fail=True)
    assert 'NonFiniteTrainingError: Training stopped at iteration 2' in out, out[-3000:]
    assert 'decode.loss_ce=nan' in out
    # which parameter grew most, and by how much, before the NaN: iter_1.pth is not to be trusted
    assert 'From the start of this run (iteration 0) to iteration 1: ' in out
    growth = float(out.split('From the start of this run (iteration 0) to iteration 1: ')[1]
                   .split('(×')[1].split(')')[0])
    assert growth > 1e6
    work = osp.join(tools.cwd, 'lr_huge')
    assert not osp.exists(osp.join(work, 'iter_2.pth'))
    with open(osp.join(work, 'last_checkpoint')) as f:
        last = f.read().strip()
    assert last == osp.join(work, 'iter_1.pth')
    state = safe_torch_load(last)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_non_finite_distillation_loss_is_named_and_nothing_is_saved(tools):
    out = tools.run(tools.train_args(TAT, 'weight_huge', 2,
                                     'model.distiller.distill_losses.loss_tat.loss_weight=1e40',
                                     f'model.teacher_ckpt={tools.teacher(TEACHER)}'), fail=True)
    # the dry run on one batch catches it before iteration 1, naming the term and the module
    assert 'ConfigCheckHook: on one training batch, before iteration 1, the loss terms ' \
        'distill.loss_tat=inf are not finite' in out, out[-3000:]
    assert 'model.distiller.distill_losses.loss_tat (TaTLoss)' in out
    assert 'Iter(train)' not in out
    assert not osp.exists(osp.join(tools.cwd, 'weight_huge', 'iter_1.pth'))


def test_bad_distillation_config_fails_before_iteration_1_naming_the_key(tools):
    out = tools.run(tools.train_args(TAT, 'bad_channels', 2,
                                     'model.distiller.distill_losses.loss_tat.student_channels=64',
                                     f'model.teacher_ckpt={tools.teacher(TEACHER)}'), fail=True)
    assert 'model.distiller.distill_losses.loss_tat.student_channels: ' in out, out[-3000:]
    assert "student (student, recorder='c5', data_idx=3): (2, 128, 8, 16)" in out
    assert 'Iter(train)' not in out


def test_test_tool_refuses_a_checkpoint_that_does_not_fit(tools):
    out = tools.run(tools.test_args(STUDENT, tools.teacher(TEACHER), 'student_on_teacher'),
                    fail=True)
    assert 'CheckpointMismatchError' in out and "checkpoint='" in out, out[-3000:]
    assert 'have another shape' in out and 'Nothing was loaded' in out
    assert 'Iter(test)' not in out


def test_flagship_config_without_data_says_what_is_missing(tmp_path):
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'train.py'),
                           osp.join(ROOT, 'configs', 'pspnet_r18_tat.py')], cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, 'TORCH_HOME': str(tmp_path / 'th')},
                          timeout=300)
    assert proc.returncode != 0
    message = proc.stdout.strip().splitlines()[-1]
    assert message.startswith('FileNotFoundError: The dataset is not where the config says: '
                              "train_dataloader.dataset.data_root='data/cityscapes/'"), message
    for part in ('make demo', '--cfg-options train_dataloader.dataset.data_root=',
                 "model.teacher_ckpt='https://download.openmmlab.com/", 'without network'):
        assert part in message, (part, message)


def _poisoned(tools, config: str, key: str, name: str) -> str:
    """A checkpoint of ``config``'s untrained model with one element of tensor ``key`` NaN."""
    checkpoint = safe_torch_load(tools.random_init(config))
    checkpoint['state_dict'][key].view(-1)[0] = float('nan')
    path = osp.join(tools.cwd, name)
    torch.save(checkpoint, path)
    return path


def test_test_tool_refuses_a_model_with_a_non_finite_buffer(tools):
    path = _poisoned(tools, STUDENT, 'decode_head.bottleneck.bn.running_mean', 'nan_student.pth')
    out = tools.run(tools.test_args(STUDENT, path, 'nan_student_test'), fail=True)
    assert 'NonFiniteCheckpointError' in out, out[-3000:]
    assert 'decode_head.bottleneck.bn.running_mean' in out and 'Nothing was loaded' in out
    assert 'Iter(test)' not in out and 'aAcc' not in out


def test_a_teacher_with_a_non_finite_buffer_stops_training_before_iteration_1(tools):
    path = _poisoned(tools, TEACHER, 'backbone.stem.1.running_var', 'nan_teacher.pth')
    out = tools.run(tools.train_args(TAT, 'nan_teacher', 2, f'model.teacher_ckpt={path}'),
                    fail=True)
    assert 'NonFiniteCheckpointError' in out and 'model.teacher_ckpt=' in out, out[-3000:]
    assert 'backbone.stem.1.running_var' in out and 'Iter(train)' not in out


def test_a_label_id_out_of_range_fails_before_iteration_1_naming_the_file(tools):
    import glob
    import shutil

    import numpy as np
    from PIL import Image
    root = osp.join(tools.cwd, 'data', 'bad_labels')
    if not osp.isdir(root):
        shutil.copytree(osp.join(tools.cwd, 'data', 'synthetic_cityscapes'), root)
    path = sorted(glob.glob(osp.join(root, 'gtFine', 'train', '*', '*_labelTrainIds.png')))[5]
    label = np.array(Image.open(path))
    label[:4, :4] = 50
    Image.fromarray(label).save(path)
    options = [f'{loader}.dataset.data_root={root}' for loader in ('train_dataloader',
                                                                  'val_dataloader')]
    out = tools.run(tools.train_args(STUDENT, 'bad_labels', 2, *options), fail=True)
    assert 'DataCheckError: train_dataloader.dataset' in out, out[-3000:]
    assert f'{path} holds [50]' in out and 'Iter(train)' not in out
    assert 'data check: ' not in out  # it stopped at the first inconsistent dataset
    # --skip-data-check starts the run unchecked (here the 4×4 bad pixels happen to be cropped
    # away in both iterations, so it even finishes: the silent case the check is for)
    out = tools.run(tools.train_args(STUDENT, 'bad_labels_unchecked', 2, *options,
                                     extra=['--skip-data-check']))
    assert 'DataCheckError' not in out and 'data check: ' not in out
