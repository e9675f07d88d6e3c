"""End to end through tools/train.py and tools/test.py: each family trains, saves, evaluates, and
its distillation config trains from the saved teacher; resume continues exactly; two processes
train with the pytorch launcher on CPU."""
import glob
import os
import os.path as osp
import pickle
import sys

import pytest
import torch

from .conftest import ROOT

pytestmark = pytest.mark.e2e


def budget(iters: int) -> list:
    """--cfg-options that give a demo config an ``iters``-iteration budget."""
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}', 'param_scheduler.1.begin=0',
            f'param_scheduler.1.end={iters}']


FAMILIES = {
    # family: (teacher, student, distillation configs, metric keys)
    'pspnet': ('pspnet_r50-narrow_synthcity.py', 'pspnet_r18-narrow_synthcity.py',
               ['cwd_pspnet_r50-narrow_r18-narrow_synthcity.py',
                'tat_pspnet_r50-narrow_r18-narrow_synthcity.py'], ['mIoU', 'aAcc']),
    'faster_rcnn': ('faster-rcnn_r50-narrow_fpn_synthcoco.py',
                    'faster-rcnn_r18-narrow_fpn_synthcoco.py',
                    ['pkd_faster-rcnn_r50-narrow_r18-narrow_synthcoco.py',
                     'tat_faster-rcnn_r50-narrow_r18-narrow_synthcoco.py'], ['coco/bbox_mAP']),
    'mask_rcnn': ('mask-rcnn_r50-narrow_fpn_synthcoco.py', 'mask-rcnn_r18-narrow_fpn_synthcoco.py',
                  ['pkd_mask-rcnn_r50-narrow_r18-narrow_synthcoco.py',
                   'tat_mask-rcnn_r50-narrow_r18-narrow_synthcoco.py'],
                  ['coco/bbox_mAP', 'coco/segm_mAP']),
}


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_teacher_trains_saves_evaluates_and_distils(tools, family):
    teacher, _, distill_configs, keys = FAMILIES[family]
    ckpt = tools.train(teacher, f'{family}_teacher', *budget(2))
    assert ckpt.endswith('iter_2.pth') and osp.isfile(ckpt)
    metrics = tools.test(teacher, ckpt, f'{family}_teacher_test')
    for key in keys:
        assert 0.0 <= metrics[key] <= 100.0, (key, metrics)
    teacher_state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']

    for distill in distill_configs:
        # the distillation run loads the teacher checkpoint just saved (weights_only + allow-list)
        work = osp.splitext(distill)[0]
        distilled = tools.train(distill, work, *budget(2), 'default_hooks.logger.interval=1',
                                f'model.teacher_ckpt={ckpt}')
        log = open(_log_file(tools.cwd, work)).read()
        method = distill.split('_')[0]
        assert f'distill.loss_{method}' in log, f'no {method} loss logged by {distill}'
        state = torch.load(distilled, map_location='cpu', weights_only=False)['state_dict']
        # the frozen teacher inside the distiller is exactly the checkpoint we gave it
        for key in (k for k in teacher_state if k.endswith('weight')):
            assert torch.equal(state['teacher.' + key], teacher_state[key]), key
        metrics = tools.test(distill, distilled, f'{work}_test')
        for key in keys:
            assert key in metrics


def _log_file(cwd, work_dir):
    return sorted(glob.glob(osp.join(cwd, work_dir, '*', '*.log')))[-1]


def test_test_tool_dumps_predictions_and_draws(tools):
    teacher = FAMILIES['pspnet'][0]
    ckpt = tools.train(teacher, 'dump_run', *budget(1))
    out = osp.join(tools.cwd, 'preds.pkl')
    show = osp.join(tools.cwd, 'vis')
    tools.test(teacher, ckpt, 'dump_test', '--out', out, '--show-dir', show)
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 4  # the synthetic val split
    assert preds[0]['pred_sem_seg']['data'].shape[-2:] == (128, 256)
    # each of the 4 val images drawn once
    assert len([p for p in _files(show) if p.endswith('.png')]) == 4


def _files(folder):
    return [osp.join(d, f) for d, _, names in os.walk(folder) for f in names]


def test_resume_continues_from_the_saved_iteration_with_the_same_state(tools):
    student = FAMILIES['pspnet'][1]
    # dropout draws from the torch RNG, which mmengine reseeds (not restores) on resume
    opts = [*budget(4), 'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
            'model.decode_head.dropout_ratio=0', 'model.auxiliary_head.dropout_ratio=0']
    straight = tools.train(student, 'straight', *opts)
    half = osp.join(osp.dirname(straight), 'iter_2.pth')
    log = tools.run([sys.executable, osp.join(ROOT, 'tools', 'train.py'),
                     osp.join(ROOT, 'configs', 'demo', student), '--work-dir', 'resumed',
                     '--resume', half, '--cfg-options', *opts])
    assert 'resumed epoch: 0, iter: 2' in log
    assert 'Iter(train) [3/4]' in log and 'Iter(train) [1/4]' not in log
    resumed = osp.join(tools.cwd, 'resumed', 'iter_4.pth')
    a = torch.load(straight, map_location='cpu', weights_only=False)
    b = torch.load(resumed, map_location='cpu', weights_only=False)
    assert a['meta']['iter'] == b['meta']['iter'] == 4
    for key, value in a['state_dict'].items():
        torch.testing.assert_close(b['state_dict'][key], value, rtol=1e-5, atol=1e-6, msg=key)
    # AdamW moments after 4 steps agree, so the optimizer state was restored, not rebuilt
    for sa, sb in zip(a['optimizer']['state'].values(), b['optimizer']['state'].values()):
        torch.testing.assert_close(sb['exp_avg_sq'], sa['exp_avg_sq'], rtol=1e-4, atol=1e-10)
        assert sa['step'] == sb['step'] == 4


def test_two_process_distillation_with_the_pytorch_launcher(tools):
    teacher, _, (distill, _), _ = FAMILIES['pspnet']
    ckpt = tools.train(teacher, 'ddp_teacher', *budget(1))
    tools.run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'),
               osp.join(ROOT, 'configs', 'demo', distill), '2', '--work-dir', 'ddp',
               '--cfg-options', *budget(2), f'model.teacher_ckpt={ckpt}'],
              env={'PYTHON': sys.executable, 'PORT': '29731', 'OMP_NUM_THREADS': '1'})
    log = open(_log_file(tools.cwd, 'ddp')).read()
    # mmengine reports the world size as "GPU number", whatever the device
    assert 'Distributed launcher: pytorch' in log and 'GPU number: 2' in log
    assert osp.isfile(osp.join(tools.cwd, 'ddp', 'iter_2.pth'))
