"""--iters: the loop, validation, checkpoint and every iteration scheduler move together, and the
schedulers mmengine builds from the result are valid for any budget, 1 included."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS

from conftest import ROOT
import kdseg  # noqa: F401
from kdseg.apis.cli import load_config, set_iteration_budget

STUDENT = osp.join(ROOT, 'configs', 'demo_models', 'pspnet_r18-narrow_synthcity.py')


def _lrs(cfg: Config) -> list:
    """The learning rate of every iteration, from the schedulers mmengine builds."""
    model = torch.nn.Linear(1, 1)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=wrapper.optimizer))
                  for s in cfg.param_scheduler]
    lrs = []
    for _ in range(cfg.train_cfg.max_iters):
        lrs.append(wrapper.optimizer.param_groups[0]['lr'])
        wrapper.optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    return lrs


@pytest.mark.parametrize('iters', [1, 2, 10, 49, 1000])
def test_budget_sets_loop_val_checkpoint_and_schedule(iters):
    cfg = load_config(STUDENT, iters=iters)
    assert cfg.train_cfg.max_iters == iters
    assert cfg.train_cfg.val_interval == min(400, iters)
    assert cfg.default_hooks.checkpoint.interval == min(400, iters)
    warmup, poly = cfg.param_scheduler
    assert warmup.begin == 0 and warmup.end >= 1
    assert poly.begin == warmup.end and poly.end == max(iters, poly.begin + 1)
    lrs = _lrs(cfg)  # builds: mmengine refuses end <= begin
    assert len(lrs) == iters and lrs[0] > 0 and all(lr >= 0 for lr in lrs)


def test_schedule_keeps_its_shape():
    original = _lrs(load_config(STUDENT))  # 400 iterations
    lrs = _lrs(load_config(STUDENT, iters=800))
    assert lrs[0] == pytest.approx(original[0])  # the warm-up's start factor

    def peak(values):
        return max(range(len(values)), key=values.__getitem__)

    assert abs(peak(lrs) - 2 * peak(original)) <= 1  # the warm-up, scaled by 2
    assert max(lrs) == pytest.approx(max(original))
    assert lrs[600] == pytest.approx(original[300], rel=0.02)  # same place in the run


def test_explicit_cfg_options_win_over_the_budget():
    cfg = load_config(STUDENT, cfg_options={'default_hooks.checkpoint.interval': 2}, iters=4)
    assert cfg.default_hooks.checkpoint.interval == 2 and cfg.train_cfg.max_iters == 4


def test_milestones_scale_and_epoch_schedulers_stay():
    cfg = Config(dict(train_cfg=dict(type='IterBasedTrainLoop', max_iters=1000),
                      param_scheduler=[
                          dict(type='MultiStepLR', by_epoch=False, milestones=[500, 900]),
                          dict(type='ConstantLR', by_epoch=True, begin=0, end=3)]))
    set_iteration_budget(cfg, 100)
    assert cfg.param_scheduler[0].milestones == [50, 90]
    assert cfg.param_scheduler[1].end == 3


def test_distillation_warm_up_moves_with_the_budget():
    cfg = Config(dict(train_cfg=dict(type='IterBasedTrainLoop', max_iters=400),
                      custom_hooks=[dict(type='DistillWarmupHook', warmup_iters=50),
                                    dict(type='NaNGuardHook', interval=7)]))
    set_iteration_budget(cfg, 1200)
    assert cfg.custom_hooks[0].warmup_iters == 150 and cfg.custom_hooks[1].interval == 7
    set_iteration_budget(cfg, 2)
    assert cfg.custom_hooks[0].warmup_iters == 1


def test_frskd_ramp_keeps_its_place_in_the_run():
    # the demo FRSKD twins: off for 266 of 400 iterations, ramped over the last 134
    cfg = Config(dict(train_cfg=dict(type='IterBasedTrainLoop', max_iters=400),
                      custom_hooks=[dict(type='DistillRampHook', begin_iter=266,
                                         ramp_iters=134)]))
    set_iteration_budget(cfg, 1200)
    assert (cfg.custom_hooks[0].begin_iter, cfg.custom_hooks[0].ramp_iters) == (798, 402)
    set_iteration_budget(cfg, 3)  # 798/1200 of 3 is 2.0; the ramp still ends at the end
    assert (cfg.custom_hooks[0].begin_iter, cfg.custom_hooks[0].ramp_iters) == (2, 1)


def test_epoch_based_config_is_refused_naming_the_key():
    cfg = Config(dict(train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=24)))
    with pytest.raises(ValueError, match='max_epochs'):
        set_iteration_budget(cfg, 10)
    with pytest.raises(ValueError, match='positive'):
        set_iteration_budget(Config(dict(train_cfg=dict(max_iters=5))), 0)


def test_frskd_seg_schedule_keeps_its_place_in_the_run():
    """The ramp's steps, the LR drop at the start of distillation and the end of the detached
    self-teacher input all move with the budget, and stay at the same iteration."""
    cfg = Config(dict(
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=400),
        model=dict(type='FRSKD', detach_self_teacher_input_until=266),
        param_scheduler=[dict(type='MultiStepLR', by_epoch=False, milestones=[266], gamma=0.1)],
        custom_hooks=[dict(type='DistillRampHook', begin_iter=266, ramp_iters=134,
                           step_iters=50)]))
    set_iteration_budget(cfg, 1200)
    hook = cfg.custom_hooks[0]
    assert (hook.begin_iter, hook.ramp_iters, hook.step_iters) == (798, 402, 150)
    assert cfg.param_scheduler[0].milestones == [798]
    assert cfg.model.detach_self_teacher_input_until == 798
    set_iteration_budget(cfg, 2)  # a step is never shorter than one iteration
    assert cfg.custom_hooks[0].step_iters == 1
    assert cfg.model.detach_self_teacher_input_until == cfg.custom_hooks[0].begin_iter == 1


def test_a_per_epoch_ramp_keeps_the_epoch_as_its_step():
    """An epoch is a property of the data, not of the budget: 'epoch' is left as it is while
    the ramp's start and length move."""
    cfg = Config(dict(
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=400),
        custom_hooks=[dict(type='DistillRampHook', begin_iter=266, ramp_iters=134,
                           step_iters='epoch')]))
    set_iteration_budget(cfg, 1200)
    hook = cfg.custom_hooks[0]
    assert (hook.begin_iter, hook.ramp_iters, hook.step_iters) == (798, 402, 'epoch')
