"""``tools/train.py --amp`` on the CPU: every method's demo twin (the PSPNet twins from kdseg's
registry, and every Faster and Mask R-CNN twin) trains in bfloat16 autocast (kdseg's AutocastOptimWrapper;
mmengine's AmpOptimWrapper needs a GPU) to the end, with finite losses, and tools/test.py
evaluates the student it trained. The detectors run their backbones and necks in bfloat16 and
their heads in float32 (mmcv 2.1.0's CPU nms and RoIAlign take float32 only)."""
import glob
import math
import os.path as osp
import re

import pytest
import torch

from kdseg.registry import METHODS

from .conftest import CONFIGS

pytestmark = pytest.mark.e2e

# (teacher, student) per family
MODELS = {'pspnet': ('demo_models/pspnet_r50-narrow_synthcity.py',
                     'demo_models/pspnet_r18-narrow_synthcity.py'),
          'faster-rcnn': ('demo_models/faster-rcnn_r50-narrow_fpn_synthcoco.py',
                          'demo_models/faster-rcnn_r18-narrow_fpn_synthcoco.py'),
          'mask-rcnn': ('demo_models/mask-rcnn_r50-narrow_fpn_synthcoco.py',
                        'demo_models/mask-rcnn_r18-narrow_fpn_synthcoco.py')}
TWINS = sorted({m.gain_config for m in METHODS.values() if m.gain_config} | {
    osp.relpath(path, CONFIGS) for pattern in ('*_faster-rcnn_*', '*_mask-rcnn_*')
    for path in glob.glob(osp.join(CONFIGS, '*', 'demo', pattern + '_synthcoco.py'))})
ITERS = 4


@pytest.mark.parametrize('config', TWINS)
def test_amp_trains_every_demo_twin_in_bfloat16_and_the_student_evaluates(tools, config):
    family = next(f for f in ('mask-rcnn', 'faster-rcnn', 'pspnet') if f'_{f}_' in config)
    teacher, student = MODELS[family]
    name = osp.splitext(osp.basename(config))[0]
    options = list(('default_hooks.logger.interval=1', 'log_processor.window_size=1'))
    if 'frskd' not in config:  # self-distillation has no teacher
        options.append(f'model.teacher_ckpt={tools.teacher(teacher)}')
    out = tools.run(tools.train_args(config, f'amp_{name}', ITERS, *options, extra=['--amp']))
    assert 'AutocastOptimWrapper' in out, out[-3000:]
    lines = [line for line in tools.log(f'amp_{name}').splitlines() if 'Iter(train)' in line]
    assert len(lines) == ITERS
    for line in lines:
        values = [float(v) for v in re.findall(r'\bloss: (\S+)', line)]
        assert values and all(math.isfinite(v) for v in values), line
    checkpoint = osp.join(tools.cwd, f'amp_{name}', f'iter_{ITERS}.pth')
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
    assert all(v.dtype != torch.bfloat16 for v in state.values())  # float32 weights
    metrics = tools.test(student, checkpoint, f'amp_{name}_test')
    assert ('mIoU' in metrics) if family == 'pspnet' else ('coco/bbox_mAP' in metrics)

