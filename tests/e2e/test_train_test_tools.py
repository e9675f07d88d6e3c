"""End to end through tools/train.py and tools/test.py, asserting behaviour: each family's teacher
learns (its loss falls; PSPNet beats its untrained initialisation), its checkpoint gives back the
very metrics and predictions of the model the training run ended with, every distillation config
trains from that checkpoint with a distillation loss that falls, and the student config evaluates
a distiller's checkpoint; --show-dir draws both families into one place; resume is exact with
dropout on; two processes train with the pytorch launcher on CPU without an activated venv.

The thresholds were measured on the e2e data (16/4 Cityscapes-format, 8/4 COCO-format images),
seeds 0, 1 and 2 (the tests run the configs' seed 0), with the first and last WINDOW iterations of
a curve averaged:
- teachers, TEACHER_ITERS=30 iterations from random init: total loss falls to 0.30-0.49 of its
  start (PSPNet 0.49 at 30, 0.60-0.63 at 20); the detectors' RPN objectness loss to 0.05-0.07 and
  RoI classification loss to 0.26-0.40 (their box regression loss RISES 4-9x meanwhile: more
  proposals become positives, so it is no measure of learning); PSPNet's val mIoU is 14.0 after
  30 iterations (13-24 after 20) against 0.2-1.0 untrained, aAcc 66 against 2-7. The detectors' box
  mAP is 0.003-0.07 after 30 iterations: too close to an untrained 0 to test.
- distillation, DISTILL_ITERS=30: the summed distill.* loss falls to 0.43-0.66 (CWD), 0.65-0.68
  (TaT PSPNet), 0.41-0.52 (PKD) and 0.78-0.84 (TaT Faster/Mask R-CNN) of its start. After 12
  iterations CWD and TaT were still within batch-to-batch noise (0.86-1.10), hence 30. CWT PSPNet:
  0.38 (seed 0 only; the CWT detectors were not measured). KR (review): PSPNet 0.50 (seed 0),
  Faster R-CNN 0.83-0.86 (distillation seeds 0-2 from the seed-0 teacher), Mask R-CNN 0.83 (seed 0).
"""
import glob
import os
import os.path as osp
import pickle
import stat
import sys
from statistics import mean

import pytest
import torch
from pycocotools import mask as coco_mask

from .conftest import CONFIGS, LOG_EVERY_ITER, ROOT, TEACHER_ITERS

pytestmark = pytest.mark.e2e

FAMILIES = {
    # family: (teacher, student, distillation configs, metric keys), paths under configs/
    'pspnet': ('demo_models/pspnet_r50-narrow_synthcity.py',
               'demo_models/pspnet_r18-narrow_synthcity.py',
               ['cwd/demo/cwd_pspnet_r50-narrow_r18-narrow_synthcity.py',
                'tat/demo/tat_pspnet_r50-narrow_r18-narrow_synthcity.py',
                'cwt/demo/cwt_pspnet_r50-narrow_r18-narrow_synthcity.py',
                'review/demo/review_pspnet_r50-narrow_r18-narrow_synthcity.py'], ['mIoU', 'aAcc']),
    'faster_rcnn': ('demo_models/faster-rcnn_r50-narrow_fpn_synthcoco.py',
                    'demo_models/faster-rcnn_r18-narrow_fpn_synthcoco.py',
                    ['pkd/demo/pkd_faster-rcnn_r50-narrow_r18-narrow_synthcoco.py',
                     'tat/demo/tat_faster-rcnn_r50-narrow_r18-narrow_synthcoco.py',
                     'cwt/demo/cwt_faster-rcnn_r50-narrow_r18-narrow_synthcoco.py',
                     'review/demo/review_faster-rcnn_r50-narrow_r18-narrow_synthcoco.py'],
                    ['coco/bbox_mAP']),
    'mask_rcnn': ('demo_models/mask-rcnn_r50-narrow_fpn_synthcoco.py',
                  'demo_models/mask-rcnn_r18-narrow_fpn_synthcoco.py',
                  ['pkd/demo/pkd_mask-rcnn_r50-narrow_r18-narrow_synthcoco.py',
                   'tat/demo/tat_mask-rcnn_r50-narrow_r18-narrow_synthcoco.py',
                   'cwt/demo/cwt_mask-rcnn_r50-narrow_r18-narrow_synthcoco.py',
                   'review/demo/review_mask-rcnn_r50-narrow_r18-narrow_synthcoco.py'],
                  ['coco/bbox_mAP', 'coco/segm_mAP']),
}
TAT_PSPNET = FAMILIES['pspnet'][2][1]
DISTILLATIONS = [(family, config) for family, (_, _, configs, _) in sorted(FAMILIES.items())
                 for config in configs]
DISTILL_ITERS = 30
WINDOW = 5  # iterations averaged at each end of a loss curve
# not metrics: what mmengine adds to the metrics it logs and dumps
TIMING_KEYS = ('data_time', 'time', 'step')


def _name(config):
    return osp.splitext(osp.basename(config))[0]


def _assert_falls(curve, to, what):
    """The mean of the last WINDOW values is below ``to`` times the mean of the first WINDOW."""
    first, last = mean(curve[:WINDOW]), mean(curve[-WINDOW:])
    assert last < to * first, (f'{what} fell only from {first:.4g} to {last:.4g} '
                               f'(x{last / first:.2f}, not below x{to}): {curve}')


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_teacher_learns_from_random_init(tools, family):
    teacher = FAMILIES[family][0]
    ckpt = tools.teacher(teacher)
    assert ckpt.endswith(f'iter_{TEACHER_ITERS}.pth') and osp.isfile(ckpt)
    work = tools.teacher_dir(teacher)
    loss = tools.losses(work, 'loss')
    assert len(loss) == TEACHER_ITERS
    _assert_falls(loss, 0.75, f'{family} teacher loss')
    if family == 'pspnet':
        trained = tools.validation(work)
        untrained = tools.test(teacher, tools.random_init(teacher), 'pspnet_untrained')
        assert trained['mIoU'] > untrained['mIoU'] + 5, (trained, untrained)
        assert trained['aAcc'] > untrained['aAcc'] + 20, (trained, untrained)
    else:
        # objectness and RoI classification start at chance (ln 2, ln 4) and must leave it
        _assert_falls(tools.losses(work, 'loss_rpn_cls'), 0.5, 'loss_rpn_cls')
        _assert_falls(tools.losses(work, 'loss_cls'), 0.75, 'loss_cls')


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_checkpoint_gives_back_the_trained_models_metrics_and_predictions(tools, family):
    """The training run validated its final model, then saved it. tools/test.py on the saved
    checkpoint measures exactly the same metrics, and its --out predictions equal, image by image
    and bit for bit, those of the checkpoint loaded into a model built in this process."""
    teacher, _, _, keys = FAMILIES[family]
    ckpt = tools.teacher(teacher)
    out = osp.join(tools.cwd, f'{family}_teacher_preds.pkl')
    metrics = tools.test(teacher, ckpt, f'{family}_teacher_test', '--out', out)
    metrics = {k: v for k, v in metrics.items() if k not in TIMING_KEYS}
    assert set(keys) <= set(metrics)
    trained = tools.validation(tools.teacher_dir(teacher))
    assert {k: trained.get(k) for k in metrics} == metrics

    with open(out, 'rb') as f:
        dumped = pickle.load(f)
    ours = tools.predict(teacher, ckpt)
    assert len(dumped) == len(ours) == 4  # the synthetic val split
    for theirs, sample in zip(dumped, ours):
        assert osp.basename(theirs['img_path']) == osp.basename(sample.img_path)
        if family == 'pspnet':
            assert theirs['pred_sem_seg']['data'].shape[-2:] == (128, 256)  # the original size
            assert torch.equal(theirs['pred_sem_seg']['data'], sample.pred_sem_seg.data)
            continue
        pred, expected = theirs['pred_instances'], sample.pred_instances
        assert len(expected) > 0, 'no detections: nothing compared'
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(pred[key], expected[key]), key
        if family == 'mask_rcnn':  # dumped as COCO run-length encodings
            masks = torch.from_numpy(coco_mask.decode(pred['masks'])).permute(2, 0, 1)
            assert torch.equal(masks.bool(), expected.masks.bool())


@pytest.mark.parametrize('family,distill', DISTILLATIONS,
                         ids=[_name(config) for _, config in DISTILLATIONS])
def test_distillation_trains_from_the_saved_teacher_and_its_loss_falls(tools, family, distill):
    teacher, student, _, keys = FAMILIES[family]
    ckpt = tools.teacher(teacher)
    work = _name(distill)
    # the distillation run loads the teacher checkpoint just saved (weights_only + allow-list)
    distilled = tools.train(distill, work, DISTILL_ITERS, *LOG_EVERY_ITER,
                            f'model.teacher_ckpt={ckpt}')
    log = tools.log(work)
    method = work.split('_')[0]
    assert f'distill.loss_{method}' in log, f'no {method} loss logged by {distill}'
    assert 'ConfigCheckHook: every distillation loss runs on one training batch' in log
    distill_loss = tools.losses(work, r'distill\.loss_\w+')
    assert len(distill_loss) == DISTILL_ITERS
    _assert_falls(distill_loss, 0.9, f'the distill.* loss of {work}')

    checkpoint = torch.load(distilled, map_location='cpu', weights_only=False)
    assert 'rng_state' in checkpoint
    # the frozen teacher inside the distiller is exactly the checkpoint we gave it
    teacher_state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    for key in (k for k in teacher_state if k.endswith('weight')):
        assert torch.equal(checkpoint['state_dict']['teacher.' + key], teacher_state[key]), key
    metrics = tools.test(distill, distilled, f'{work}_test')
    for key in keys:
        assert key in metrics
    if distill == TAT_PSPNET:
        # the student's own config evaluates the student part of the distiller checkpoint
        alone = tools.test(student, distilled, f'{work}_as_student')
        assert [alone[k] for k in keys] == [metrics[k] for k in keys], (alone, metrics)


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
    teacher, _, (distill, *_), _ = FAMILIES['pspnet']
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
    log = tools.log('ddp')
    # mmengine reports the world size as "GPU number", whatever the device
    assert 'Distributed launcher: pytorch' in log and 'GPU number: 2' in log
    assert osp.isfile(osp.join(tools.cwd, 'ddp', 'iter_2.pth'))
