"""End to end through tools/train.py and tools/test.py: each family trains, saves, evaluates, and
its distillation configs train from the saved teacher; the student config evaluates a distiller's
checkpoint; --show-dir draws both families into one place; resume is exact with dropout on; two
processes train with the pytorch launcher on CPU without an activated venv."""
import glob
import os
import os.path as osp
import pickle
import stat
import sys

import pytest
import torch

from .conftest import CONFIGS, ROOT

pytestmark = pytest.mark.e2e

FAMILIES = {
    # family: (teacher, student, distillation configs, metric keys)
    'pspnet': ('demo_models/pspnet_r50-narrow_synthcity.py',
               'demo_models/pspnet_r18-narrow_synthcity.py',
               ['cwd/demo/cwd_pspnet_r50-narrow_r18-narrow_synthcity.py',
                'tat/demo/tat_pspnet_r50-narrow_r18-narrow_synthcity.py'], ['mIoU', 'aAcc']),
    'faster_rcnn': ('demo_models/faster-rcnn_r50-narrow_fpn_synthcoco.py',
                    'demo_models/faster-rcnn_r18-narrow_fpn_synthcoco.py',
                    ['pkd/demo/pkd_faster-rcnn_r50-narrow_r18-narrow_synthcoco.py',
                     'tat/demo/tat_faster-rcnn_r50-narrow_r18-narrow_synthcoco.py'],
                    ['coco/bbox_mAP']),
    'mask_rcnn': ('demo_models/mask-rcnn_r50-narrow_fpn_synthcoco.py',
                  'demo_models/mask-rcnn_r18-narrow_fpn_synthcoco.py',
                  ['pkd/demo/pkd_mask-rcnn_r50-narrow_r18-narrow_synthcoco.py',
                   'tat/demo/tat_mask-rcnn_r50-narrow_r18-narrow_synthcoco.py'],
                  ['coco/bbox_mAP', 'coco/segm_mAP']),
}
TAT_PSPNET = FAMILIES['pspnet'][2][1]


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_teacher_trains_saves_evaluates_and_distils(tools, family):
    teacher, student, distill_configs, keys = FAMILIES[family]
    ckpt = tools.teacher(teacher)
    assert ckpt.endswith('iter_2.pth') and osp.isfile(ckpt)
    metrics = tools.test(teacher, ckpt, f'{family}_teacher_test')
    for key in keys:
        assert 0.0 <= metrics[key] <= 100.0, (key, metrics)
    teacher_state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']

    for distill in distill_configs:
        # the distillation run loads the teacher checkpoint just saved (weights_only + allow-list)
        work = osp.splitext(osp.basename(distill))[0]
        distilled = tools.train(distill, work, 2, 'default_hooks.logger.interval=1',
                                f'model.teacher_ckpt={ckpt}')
        log = open(_log_file(tools.cwd, work)).read()
        method = osp.basename(distill).split('_')[0]
        assert f'distill.loss_{method}' in log, f'no {method} loss logged by {distill}'
        assert 'ConfigCheckHook: every distillation loss runs on one training batch' in log
        state = torch.load(distilled, map_location='cpu', weights_only=False)['state_dict']
        assert 'rng_state' in torch.load(distilled, map_location='cpu', weights_only=False)
        # the frozen teacher inside the distiller is exactly the checkpoint we gave it
        for key in (k for k in teacher_state if k.endswith('weight')):
            assert torch.equal(state['teacher.' + key], teacher_state[key]), key
        metrics = tools.test(distill, distilled, f'{work}_test')
        for key in keys:
            assert key in metrics
        if distill == TAT_PSPNET:
            # the student's own config evaluates the student part of the distiller checkpoint
            alone = tools.test(student, distilled, f'{work}_as_student')
            assert [alone[k] for k in keys] == [metrics[k] for k in keys], (alone, metrics)


def _log_file(cwd, work_dir):
    return sorted(glob.glob(osp.join(cwd, work_dir, '*', '*.log')))[-1]


def _files(folder):
    return [osp.join(d, f) for d, _, names in os.walk(folder) for f in names]


def test_test_tool_dumps_predictions_and_draws_both_families_in_one_place(tools):
    teacher = FAMILIES['pspnet'][0]
    out = osp.join(tools.cwd, 'preds.pkl')
    show = osp.join(tools.cwd, 'vis_seg')
    tools.test(teacher, tools.teacher(teacher), 'dump_test', '--out', out, '--show-dir', show)
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 4  # the synthetic val split
    assert preds[0]['pred_sem_seg']['data'].shape[-2:] == (128, 256)

    detector = FAMILIES['faster_rcnn'][0]
    tools.test(detector, tools.teacher(detector), 'show_det', '--show-dir', 'vis_det')
    # every val image drawn once, into DIR/vis_data/vis_image, named after its image
    for folder, images in ((show, 'data/synthetic_cityscapes/leftImg8bit/val/*/*.png'),
                           (osp.join(tools.cwd, 'vis_det'), 'data/synthetic_coco/val2017/*')):
        drawn = sorted(os.listdir(osp.join(folder, 'vis_data', 'vis_image')))
        stems = [osp.splitext(osp.basename(p))[0] for p in glob.glob(osp.join(tools.cwd, images))]
        assert len(drawn) == len(stems) == 4, (drawn, stems)
        assert all(any(stem in name for name in drawn) for stem in stems), (drawn, stems)


def test_resume_is_exact_with_dropout_for_student_and_distillation_modules(tools):
    """PSPNet's dropout (decode 0.1) is on; the run validates at the checkpoint it resumes from."""
    opts = ['default_hooks.checkpoint.interval=2', 'train_cfg.val_interval=2',
            'default_hooks.logger.interval=1',
            f'model.teacher_ckpt={tools.teacher(FAMILIES["pspnet"][0])}']
    straight = tools.train(TAT_PSPNET, 'straight', 4, *opts)
    half = osp.join(osp.dirname(straight), 'iter_2.pth')
    log = tools.run(tools.train_args(TAT_PSPNET, 'resumed', 4, *opts, extra=['--resume', half]))
    assert 'resumed epoch: 0, iter: 2' in log
    assert 'Iter(train) [3/4]' in log and 'Iter(train) [1/4]' not in log
    a = torch.load(straight, map_location='cpu', weights_only=False)
    b = torch.load(osp.join(tools.cwd, 'resumed', 'iter_4.pth'), map_location='cpu',
                   weights_only=False)
    assert a['meta']['iter'] == b['meta']['iter'] == 4
    assert a['state_dict'].keys() == b['state_dict'].keys()
    assert any(k.startswith('distiller.distill_losses.') for k in a['state_dict'])
    for key, value in a['state_dict'].items():
        torch.testing.assert_close(b['state_dict'][key], value, rtol=1e-5, atol=1e-6, msg=key)
    # AdamW moments after 4 steps agree, so the optimizer state was restored, not rebuilt
    for sa, sb in zip(a['optimizer']['state'].values(), b['optimizer']['state'].values()):
        torch.testing.assert_close(sb['exp_avg_sq'], sa['exp_avg_sq'], rtol=1e-4, atol=1e-10)
        assert sa['step'] == sb['step'] == 4
    # and the next draws of every generator agree too
    assert torch.equal(a['rng_state'][0]['torch'], b['rng_state'][0]['torch'])
    assert a['rng_state'][0]['python'] == b['rng_state'][0]['python']


def test_two_process_distillation_with_the_pytorch_launcher(tools, tmp_path):
    teacher, _, (distill, _), _ = FAMILIES['pspnet']
    ckpt = tools.teacher(teacher)
    env = {'PORT': '29731', 'OMP_NUM_THREADS': '1'}
    if sys.executable == osp.join(ROOT, '.venv', 'bin', 'python'):
        # `make install`'s venv, not activated: a `python` on PATH that is not it must not be used
        stub = tmp_path / 'python'
        stub.write_text('#!/bin/sh\necho "not the venv python" >&2\nexit 3\n')
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
        env.update(PATH=f'{tmp_path}:{os.environ["PATH"]}', PYTHON='')
    else:
        env['PYTHON'] = sys.executable  # another interpreter: the documented override
    tools.run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'),
               osp.join(CONFIGS, distill), '2', '--work-dir', 'ddp',
               '--iters', '2', '--cfg-options', f'model.teacher_ckpt={ckpt}'], env=env)
    log = open(_log_file(tools.cwd, 'ddp')).read()
    # mmengine reports the world size as "GPU number", whatever the device
    assert 'Distributed launcher: pytorch' in log and 'GPU number: 2' in log
    assert osp.isfile(osp.join(tools.cwd, 'ddp', 'iter_2.pth'))
