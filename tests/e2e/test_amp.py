"""``tools/train.py --amp`` on the CPU: every method's PSPNet demo twin (from kdseg's registry)
trains in bfloat16 autocast (kdseg's AutocastOptimWrapper; mmengine's AmpOptimWrapper needs a
GPU) to the end, with finite losses, and tools/test.py evaluates the student it trained. The
detection twins are refused before anything is built, with the reason: mmcv 2.1.0's CPU nms and
RoIAlign take float32 only."""
import glob
import math
import os.path as osp
import re

import pytest
import torch

from kdseg.registry import METHODS

from .conftest import CONFIGS

pytestmark = pytest.mark.e2e

TEACHERS = {'synthcity': 'demo_models/pspnet_r50-narrow_synthcity.py',
            'synthcoco': 'demo_models/faster-rcnn_r50-narrow_fpn_synthcoco.py'}
STUDENTS = {'synthcity': 'demo_models/pspnet_r18-narrow_synthcity.py',
            'synthcoco': 'demo_models/faster-rcnn_r18-narrow_fpn_synthcoco.py'}
TWINS = sorted(m.gain_config for m in METHODS.values() if m.gain_config)
DETECTION_TWINS = sorted(osp.relpath(path, CONFIGS) for path in glob.glob(
    osp.join(CONFIGS, '*', 'demo', '*_faster-rcnn_*_synthcoco.py')))
ITERS = 4


@pytest.mark.parametrize('config', TWINS)
def test_amp_trains_every_demo_twin_in_bfloat16_and_the_student_evaluates(tools, config):
    dataset = 'synthcoco' if config.endswith('synthcoco.py') else 'synthcity'
    name = osp.splitext(osp.basename(config))[0]
    options = list(('default_hooks.logger.interval=1', 'log_processor.window_size=1'))
    if 'frskd' not in config:  # self-distillation has no teacher
        options.append(f'model.teacher_ckpt={tools.teacher(TEACHERS[dataset])}')
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
    metrics = tools.test(STUDENTS[dataset], checkpoint, f'amp_{name}_test')
    assert ('mIoU' in metrics) if dataset == 'synthcity' else ('coco/bbox_mAP' in metrics)


@pytest.mark.parametrize('config', DETECTION_TWINS[:1])
def test_amp_on_the_cpu_refuses_a_detector_naming_the_reason(tools, config):
    out = tools.run(tools.train_args(config, 'amp_detector', ITERS, extra=['--amp']), fail=True)
    assert 'nms and RoIAlign' in out and 'Iter(train)' not in out, out[-3000:]
