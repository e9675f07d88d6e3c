"""tools/export_student.py end to end: a distillation checkpoint's student, exported, predicts
without kdseg exactly what the distiller predicts with it.

For each family a demo distillation trains ITERS iterations through tools/train.py: PSPNet by
FRSKD (self_teacher, self_teacher_head) and by CWD (mmrazor SingleTeacherDistill, from a random
teacher), Faster R-CNN by PKD (mmrazor FpnTeacherDistill, random teacher), Mask R-CNN by FRSKD.
tools/export_student.py writes the student's checkpoint and config; then one fresh interpreter
that never imports kdseg (nor mmrazor) loads each with mmseg's ``init_model`` / mmdet's
``init_detector`` (mmengine's own ``load_checkpoint``, torch's ``weights_only=True`` default, no
allow-list) and predicts every val image with ``inference_model`` / ``inference_detector``. The
same images go through the distiller itself, built from the distillation config in this process
(kdseg imported) and loaded strictly from the original checkpoint, in the test loop's
``test_step``: the predictions must be identical.
"""
import glob
import json
import os.path as osp
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import Runner

from kdseg.engine import load_weights

from .conftest import CONFIGS, ROOT

pytestmark = pytest.mark.e2e

ITERS = 2
CASES = {
    # case: (distillation config, its teacher's config or None, task, what the export drops)
    'frskd_pspnet': ('frskd/demo/frskd_pspnet_r18-narrow_synthcity.py', None, 'seg',
                     ('self_teacher.', 'self_teacher_head.', 'distill_losses.')),
    'cwd_pspnet': ('cwd/demo/cwd_pspnet_r50-narrow_r18-narrow_synthcity.py',
                   'demo_models/pspnet_r50-narrow_synthcity.py', 'seg', ('teacher.', )),
    'pkd_faster_rcnn': ('pkd/demo/pkd_faster-rcnn_r50-narrow_r18-narrow_synthcoco.py',
                        'demo_models/faster-rcnn_r50-narrow_fpn_synthcoco.py', 'det',
                        ('teacher.', )),
    'frskd_mask_rcnn': ('frskd/demo/frskd_mask-rcnn_r18-narrow_synthcoco.py', None, 'det',
                        ('self_teacher.', 'distill_losses.')),
}
IMAGES = {'seg': 'data/synthetic_cityscapes/leftImg8bit/val/*/*.png',
          'det': 'data/synthetic_coco/val2017/*'}

# Runs in a fresh interpreter with the venv's python and no kdseg: argv[1] a json list of
# [task, config, checkpoint, original checkpoint, [images]], argv[2] the output pickle.
PLAIN = r'''
import json, pickle, sys
import torch

cases, results = json.load(open(sys.argv[1])), []
for task, config, checkpoint, original, images in cases:
    if task == 'seg':
        from mmseg.apis import inference_model as infer, init_model as init
    else:
        from mmdet.apis import inference_detector as infer, init_detector as init
    model = init(config, checkpoint, device='cpu')
    preds = []
    for image in images:
        sample = infer(model, image)
        if task == 'seg':
            preds.append(dict(sem_seg=sample.pred_sem_seg.data.numpy()))
        else:
            inst = sample.pred_instances
            preds.append({k: inst[k].numpy() for k in ('bboxes', 'scores', 'labels', 'masks')
                          if k in inst})
    # the distillation checkpoint itself does not load without kdseg's allow-list
    try:
        torch.load(original, map_location='cpu')
        refused = None
    except Exception as err:
        refused = f'{type(err).__name__}: {err}'
    results.append(dict(preds=preds, dataset_meta=model.dataset_meta, refused=refused))
with open(sys.argv[2], 'wb') as f:
    pickle.dump(results, f)
imported = sorted(m for m in sys.modules if m.split('.')[0] in ('kdseg', 'mmrazor'))
assert not imported, imported
assert 'kdseg' not in sys.modules
print('plain stack: no kdseg, no mmrazor')
'''


def _distiller_predictions(tools, config, checkpoint, images):
    """The distiller's own predictions (test_step, as in tools/test.py's test loop) for
    ``images``, built from the distillation config in this process and loaded strictly from the
    whole distillation checkpoint."""
    cfg = Config.fromfile(osp.join(CONFIGS, config))
    init_default_scope(cfg.default_scope)
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = None  # the checkpoint holds the teacher
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner does
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model)
    load_weights(model, checkpoint)  # every key: student, teacher, distiller parts
    model.eval()
    loader = cfg.test_dataloader
    loader.dataset.data_root = osp.join(tools.cwd, loader.dataset.data_root)
    by_name = {}
    with torch.no_grad():
        for batch in Runner.build_dataloader(loader):
            for sample in model.test_step(batch):
                by_name[osp.basename(sample.img_path)] = sample
    return [by_name[osp.basename(image)] for image in images]


def _train_and_export(tools, case):
    config, teacher, _, _ = CASES[case]
    options = [f'model.teacher_ckpt={tools.random_init(teacher)}'] if teacher else []
    checkpoint = tools.train(config, case, ITERS, *options)
    out = tools.run([sys.executable, osp.join(ROOT, 'tools', 'export_student.py'),
                     osp.join(CONFIGS, config), checkpoint, '--out-dir', f'{case}_export'])
    return checkpoint, out


def test_exported_student_predicts_without_kdseg_as_the_distiller(tools):
    for case in CASES:  # built here, in one thread (the registries are process-wide)
        if CASES[case][1]:
            tools.random_init(CASES[case][1])
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(CASES, pool.map(lambda c: _train_and_export(tools, c), CASES)))

    plain_cases, images = [], {}
    for case, (config, _, task, dropped) in CASES.items():
        checkpoint, out = done[case]
        stem = osp.splitext(osp.basename(config))[0] + '_student'
        cfg_file = osp.join(tools.cwd, f'{case}_export', stem + '.py')
        ckpt_file = osp.join(tools.cwd, f'{case}_export', stem + '.pth')
        assert f'wrote {case}_export/{stem}.py' in out and f'wrote {case}_export/{stem}.pth' in out
        # plain values only: torch's own weights_only=True load, no allow-list
        exported = torch.load(ckpt_file, map_location='cpu', weights_only=True)
        assert set(exported) == {'meta', 'state_dict'}
        source = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
        student = {k[len('architecture.'):]: v for k, v in source.items()
                   if k.startswith('architecture.')}
        assert list(exported['state_dict']) == list(student)
        assert all(torch.equal(exported['state_dict'][k], v) for k, v in student.items())
        assert any(k.startswith(dropped) for k in source)  # there was something to drop
        assert exported['meta']['iter'] == ITERS
        assert exported['meta']['dataset_meta']['classes']
        # the config: the student, no distillation left
        text = open(cfg_file).read()
        for word in ('mmrazor', 'teacher', 'distill', 'Distill', 'FRSKD', 'architecture'):
            assert word not in text, word
        cfg = Config.fromfile(cfg_file)
        assert cfg.default_scope == ('mmseg' if task == 'seg' else 'mmdet')
        assert cfg.val_cfg.type == 'ValLoop' and 'find_unused_parameters' not in cfg
        assert all(h.type not in ('DistillRampHook', 'DistillWarmupHook')
                   for h in cfg.get('custom_hooks', []))
        images[case] = sorted(glob.glob(osp.join(tools.cwd, IMAGES[task])))
        assert len(images[case]) == 4
        plain_cases.append([task, cfg_file, ckpt_file, checkpoint, images[case]])

    spec, result = osp.join(tools.cwd, 'plain_cases.json'), osp.join(tools.cwd, 'plain.pkl')
    with open(spec, 'w') as f:
        json.dump(plain_cases, f)
    script = osp.join(tools.cwd, 'plain_inference.py')
    with open(script, 'w') as f:
        f.write(PLAIN)
    proc = subprocess.run([sys.executable, script, spec, result], cwd=tools.cwd, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    assert proc.returncode == 0 and 'plain stack: no kdseg' in proc.stdout, proc.stdout[-6000:]
    with open(result, 'rb') as f:
        plain = dict(zip(CASES, pickle.load(f)))

    for case, (config, _, task, _) in CASES.items():
        checkpoint, _ = done[case]
        assert plain[case]['refused'] and 'weights_only' in plain[case]['refused'], plain[case]
        ours = _distiller_predictions(tools, config, checkpoint, images[case])
        meta = torch.load(checkpoint, map_location='cpu', weights_only=False)['meta']
        assert list(plain[case]['dataset_meta']['classes']) == \
            list(meta['dataset_meta']['classes'])
        compared = 0
        for theirs, sample in zip(plain[case]['preds'], ours):
            if task == 'seg':
                expected = sample.pred_sem_seg.data.numpy()
                assert theirs['sem_seg'].shape == expected.shape == (1, 128, 256)
                assert np.array_equal(theirs['sem_seg'], expected), case
                compared += 1
                continue
            inst = sample.pred_instances
            assert set(theirs) == {k for k in ('bboxes', 'scores', 'labels', 'masks') if k in inst}
            assert len(theirs['labels']) == len(inst), case
            np.testing.assert_array_equal(theirs['labels'], inst.labels.numpy())
            np.testing.assert_allclose(theirs['bboxes'], inst.bboxes.numpy(), rtol=0, atol=1e-5)
            np.testing.assert_allclose(theirs['scores'], inst.scores.numpy(), rtol=0, atol=1e-5)
            if 'masks' in theirs:
                np.testing.assert_array_equal(theirs['masks'], inst.masks.numpy())
            compared += len(inst)
        assert compared > 0, f'{case}: no predictions, nothing compared'


def test_export_errors_name_the_argument(tools, tmp_path):
    tool = [sys.executable, osp.join(ROOT, 'tools', 'export_student.py')]
    config = osp.join(CONFIGS, CASES['frskd_pspnet'][0])
    out = tools.run([*tool, config, str(tmp_path / 'none.pth'), '--out-dir', str(tmp_path)],
                    fail=True)
    assert "CHECKPOINT '" in out and 'does not exist' in out
    out = tools.run([*tool, str(tmp_path / 'none.py'), config, '--out-dir', str(tmp_path)],
                    fail=True)
    assert "CONFIG '" in out and 'does not exist' in out
    # a checkpoint of another model: refused, naming CHECKPOINT and the keys
    other = tools.random_init('demo_models/faster-rcnn_r50-narrow_fpn_synthcoco.py')
    out = tools.run([*tool, config, other, '--out-dir', str(tmp_path / 'x')], fail=True)
    assert 'CHECKPOINT=' in out and 'does not fit' in out and 'Nothing was loaded' in out
