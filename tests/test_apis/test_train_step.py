"""kdseg.apis.benchmarking.train_step: the whole-step timings of a distillation config."""
import os.path as osp

import torch

from conftest import CONFIGS
from kdseg.apis.benchmarking.train_step import method_configs, synthetic_batch, time_config
from kdseg.registry import METHODS


def test_synthetic_batches_for_both_families():
    seg = synthetic_batch('mmseg', 2, (16, 24), num_classes=19)
    assert [tuple(i.shape) for i in seg['inputs']] == [(3, 16, 24)] * 2
    assert seg['inputs'][0].dtype == torch.uint8
    assert int(seg['data_samples'][0].gt_sem_seg.data.max()) < 19
    det = synthetic_batch('mmdet', 1, (32, 48), num_classes=3)
    boxes = det['data_samples'][0].gt_instances.bboxes
    assert boxes.shape == (3, 4) and bool((boxes[:, 2:] > boxes[:, :2]).all())
    assert bool((boxes[:, 2] <= 48).all() and (boxes[:, 3] <= 32).all())


def test_time_config_gives_the_three_timings_and_their_ratio():
    config = osp.join(CONFIGS, 'cwd', 'demo', 'cwd_pspnet_r50-narrow_r18-narrow_synthcity.py')
    times = time_config(config, (32, 64), batch=2, steps=1, warmup=0)
    assert times['distill'] > 0 and times['student'] > 0 and times['teacher_forward'] > 0
    assert times['ratio'] == times['distill'] / (times['student'] + times['teacher_forward'])


def test_self_distillation_has_no_teacher_forward():
    config = osp.join(CONFIGS, 'frskd', 'demo', 'frskd_pspnet_r18-narrow_synthcity.py')
    times = time_config(config, (32, 64), batch=2, steps=1, warmup=0)
    assert times['teacher_forward'] == 0 and times['ratio'] == times['distill'] / times['student']


def test_every_declared_method_has_configs_at_both_scales():
    for scale in ('demo', 'real'):
        found = method_configs(CONFIGS, scale)
        assert {name for name, _ in found} == {m.name for m in METHODS.values()}, scale
        assert all(osp.isfile(path) for _, path in found)
