"""FRSKD's switches: the self-teacher's task gradient into the student (by iteration), the
self-teacher head's dropout in the KD targets, and the authors' LR drop composed with the poly
schedule; on the BiFPNSeg demo configs (configs/frskd/demo/frskd-seg_*)."""
import copy
import itertools

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim.scheduler import MultiStepLR, PolyLR
from mmseg.models.utils import resize
from torch import nn

from .test_frskd import (_build, _config, _det_batch, _grads, _none_or_zero, _nonzero,
                         _one_thread, _seg_batch, _sum)

PSPNET_SEG = 'frskd-seg_pspnet_r18-narrow_synthcity.py'
FASTER_SEG = 'frskd-seg_faster-rcnn_r18-narrow_synthcoco.py'
_one_thread = _one_thread  # the module fixture (autouse) of test_frskd, here too

_hubs = itertools.count()


def _at_iteration(it):
    """A fresh current MessageHub saying the runner is at iteration ``it`` (None: no runner)."""
    hub = MessageHub.get_instance(f'test_frskd_switches_{next(_hubs)}')
    if it is not None:
        hub.update_info('iter', it)
    return hub


def _self_teacher_grads_into_backbone(model, inputs, samples):
    losses = model.loss(inputs, samples)
    backbone = list(model.architecture.backbone.parameters())
    return (_grads(_sum(losses, 'self_teacher.'), backbone),
            _grads(losses['distill.loss_at'] + losses['distill.loss_kd'], backbone))


def _pspnet(**model_options):
    cfg = _config(PSPNET_SEG)
    cfg.model.update(model_options)
    return _build(cfg.model).train()


# -------------------------------------------------- 1. detach_self_teacher_input_until


@pytest.mark.parametrize('until,it,reaches', [
    (0, None, True),  # the authors': never detached, no iteration needed
    (-1, None, False),  # always detached
    (5, 0, False), (5, 4, False), (5, 5, True), (5, 100, True),
])
def test_self_teacher_task_gradient_reaches_the_backbone_as_configured(until, it, reaches):
    _at_iteration(it)
    model = _pspnet(detach_self_teacher_input_until=until)
    inputs, samples = _seg_batch()
    task, distill = _self_teacher_grads_into_backbone(model, inputs, samples)
    assert _nonzero(task) if reaches else _none_or_zero(task)
    # the student's own distillation terms reach its backbone either way (AT reads F itself)
    assert _nonzero(distill)
    # the self-teacher itself still learns the task
    params = list(model.self_teacher.parameters()) + list(model.self_teacher_head.parameters())
    losses = model.loss(inputs, samples)
    assert _nonzero(_grads(_sum(losses, 'self_teacher.'), params))


def test_detaching_changes_no_value():
    inputs, samples = _seg_batch()
    _at_iteration(0)
    values = []
    for until in (0, 10):
        model = _pspnet(detach_self_teacher_input_until=until)
        torch.manual_seed(3)
        values.append({k: v.detach() for k, v in model.loss(inputs, samples).items()})
    assert values[0].keys() == values[1].keys()
    for key in values[0]:
        assert torch.equal(values[0][key], values[1][key]), key


def test_detach_on_a_detector():
    _at_iteration(None)
    cfg = _config(FASTER_SEG)
    for until, reaches in ((0, True), (-1, False)):
        model = _build(dict(cfg.model, detach_self_teacher_input_until=until)).train()
        inputs, samples = _det_batch(model)
        task, _ = _self_teacher_grads_into_backbone(model, inputs, samples)
        assert _nonzero(task) if reaches else _none_or_zero(task)


def test_an_iteration_schedule_outside_a_runner_says_what_it_needs():
    _at_iteration(None)
    model = _pspnet(detach_self_teacher_input_until=5)
    with pytest.raises(RuntimeError, match=r'detach_self_teacher_input_until=5 .*"iter"'):
        model.loss(*_seg_batch())


@pytest.mark.parametrize('bad', [-2, 1.5, True, '3', None])
def test_bad_detach_values_name_the_key(bad):
    with pytest.raises(ValueError, match=r'model\.detach_self_teacher_input_until'):
        _pspnet(detach_self_teacher_input_until=bad)


# ------------------------------------------------------ 2. self_teacher_dropout_in_targets


def _targets_without_dropout(model, inputs):
    """The self-teacher head's logits with its dropout replaced by the identity, everything else
    as in the step (training-mode BatchNorm: the batch's statistics), at the input size."""
    head = copy.deepcopy(model.self_teacher_head)
    head.dropout = nn.Identity()
    refined = model.refine(model.architecture.extract_feat(inputs))
    return resize(head(refined), size=inputs.shape[2:], mode='bilinear',
                  align_corners=head.align_corners)


@pytest.mark.parametrize('in_targets', [True, False])
def test_dropout_in_the_targets_as_configured(in_targets):
    _at_iteration(None)
    model = _pspnet(self_teacher_dropout_in_targets=in_targets)
    model.self_teacher_head.dropout.p = 0.5  # a dropout that shows
    inputs, samples = _seg_batch()
    torch.manual_seed(5)
    step = model.train_step_parts(inputs, samples)
    targets = step.logits[1]
    expected = _targets_without_dropout(model, inputs).detach()
    if in_targets:  # the targets are the cross-entropy's logits, dropout included
        assert not torch.allclose(targets, expected, rtol=1e-3, atol=1e-4)
        assert targets.requires_grad  # the same tensor as the cross-entropy's (KD detaches it)
    else:  # the same head pass without its dropout, no gradient needed
        torch.testing.assert_close(targets, expected, rtol=1e-5, atol=1e-6)
        assert not targets.requires_grad


def test_the_switch_leaves_the_self_teachers_own_loss_and_the_batchnorm_statistics_alone():
    """One head pass either way: the same cross-entropy (same dropout masks) and the head's
    BatchNorms updated once."""
    _at_iteration(None)
    inputs, samples = _seg_batch()
    runs = []
    for in_targets in (True, False):
        model = _pspnet(self_teacher_dropout_in_targets=in_targets)
        torch.manual_seed(5)
        losses = model.loss(inputs, samples)
        stats = [b.clone() for b in model.self_teacher_head.buffers()]
        runs.append((losses['self_teacher.decode.loss_ce'].detach(), stats,
                     losses['distill.loss_kd'].detach()))
    assert torch.equal(runs[0][0], runs[1][0])
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    assert not torch.equal(runs[0][2], runs[1][2])  # the KD targets differ


def test_no_dropout_means_the_same_targets():
    _at_iteration(None)
    inputs, samples = _seg_batch()
    kd = []
    for in_targets in (True, False):
        model = _pspnet(self_teacher_dropout_in_targets=in_targets)
        model.self_teacher_head.dropout = None  # mmseg's dropout_ratio=0
        torch.manual_seed(5)
        kd.append(model.loss(inputs, samples)['distill.loss_kd'].detach())
    assert torch.equal(kd[0], kd[1])


def test_dropout_switch_errors_name_the_key():
    with pytest.raises(ValueError, match=r'model\.self_teacher_dropout_in_targets must be'):
        _pspnet(self_teacher_dropout_in_targets=0)
    cfg = _config(FASTER_SEG)
    with pytest.raises(ValueError, match=r'model\.self_teacher_dropout_in_targets=False: a '
                       'two-stage detector'):
        _build(dict(cfg.model, self_teacher_dropout_in_targets=False))
    cfg = _config(PSPNET_SEG)  # a head that overrides cls_seg
    head = dict(cfg.model.self_teacher_head, type='PointHead', in_channels=[16], in_index=[0],
                channels=16, num_fcs=1)
    head.pop('pool_scales')
    with pytest.raises(ValueError, match='BaseDecodeHead.cls_seg'):
        _build(dict(cfg.model, self_teacher_head=head))


# ---------------------------------------------------- 3. the self-teacher config's errors


def test_bifpnseg_errors_name_model_self_teacher():
    cfg = _config(PSPNET_SEG)
    with pytest.raises(ValueError, match=r'model\.self_teacher: .*set channels'):
        _build(dict(cfg.model, self_teacher=dict(type='BiFPNSegSelfTeacher',
                                                 in_channels=(16, 32, 64, 128))))
    _at_iteration(None)
    model = _build(dict(cfg.model, self_teacher=dict(cfg.model.self_teacher,
                                                     in_channels=(16, 32, 64)))).train()
    with pytest.raises(ValueError, match=r'model\.self_teacher: .*built for 3 levels'):
        model.loss(*_seg_batch())
    with pytest.raises(ValueError, match=r'model\.self_teacher_head\.in_channels=\[?32'):
        _build(dict(cfg.model, self_teacher_head=dict(cfg.model.self_teacher_head,
                                                      in_channels=32)))


# ------------------------------------------------------- 4. the LR drop, composed by mmengine


def test_lr_drops_tenfold_exactly_at_the_milestone_on_top_of_poly():
    """mmengine steps both schedulers each iteration, each multiplying the current lr: up to
    the milestone the lr is the poly schedule's alone; at the milestone it is exactly 0.1 × the
    poly lr of that iteration; after it the poly decay continues from there (with eta_min = 0,
    exactly 0.1 × poly; with mmseg's eta_min = 1e-4 the chained poly decays towards eta_min)."""
    total, milestone = 30, 20

    def lrs(with_drop, eta_min=0.0):
        param = nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([param], lr=0.01)
        schedulers = [PolyLR(optimizer, eta_min=eta_min, power=0.9, begin=0, end=total,
                             by_epoch=False)]
        if with_drop:
            schedulers.append(MultiStepLR(optimizer, milestones=[milestone], gamma=0.1,
                                          by_epoch=False))
        seen = []
        for _ in range(total):  # the lr iteration i trains with, then ParamSchedulerHook steps
            seen.append(optimizer.param_groups[0]['lr'])
            for scheduler in schedulers:
                scheduler.step()
        return seen

    poly, dropped = lrs(False), lrs(True)
    assert dropped[:milestone] == pytest.approx(poly[:milestone], rel=1e-12)
    assert dropped[milestone] == pytest.approx(0.1 * poly[milestone], rel=1e-12)
    assert dropped[milestone] < 0.2 * dropped[milestone - 1]
    assert dropped[milestone:] == pytest.approx([0.1 * p for p in poly[milestone:]], rel=1e-9)
    poly, dropped = lrs(False, 1e-4), lrs(True, 1e-4)  # mmseg's Cityscapes eta_min
    assert dropped[milestone - 1] == pytest.approx(poly[milestone - 1], rel=1e-12)
    assert dropped[milestone] == pytest.approx(0.1 * poly[milestone], rel=1e-12)


def test_the_tuned_config_trains_as_the_measured_arm():
    """configs/frskd/demo/frskd-seg_*_tuned: the search's best arm (the twin with a x1.0 LR drop and
    step_iters=1) as a config of its own: the same model, data and ramp, the same LR at every
    iteration, and the ramp moving every iteration."""
    from mmengine.registry import PARAM_SCHEDULERS
    tuned = _config('frskd-seg_pspnet_r18-narrow_synthcity_tuned.py')
    arm = _config(PSPNET_SEG)
    arm.merge_from_dict({'param_scheduler.2.gamma': 1.0, 'custom_hooks.0.step_iters': 1})
    twin = _config(PSPNET_SEG)
    assert tuned.custom_hooks == arm.custom_hooks != twin.custom_hooks
    assert tuned.custom_hooks[0].step_iters == 1
    for key in set(tuned) | set(arm):
        if key != 'param_scheduler':
            assert tuned.get(key) == arm.get(key), key

    def lrs(cfg):
        lr = cfg.optim_wrapper.optimizer.lr
        optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
        schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=optimizer))
                      for s in copy.deepcopy(cfg.param_scheduler)]
        seen = []
        for _ in range(cfg.train_cfg.max_iters):
            seen.append(optimizer.param_groups[0]['lr'])
            for scheduler in schedulers:
                scheduler.step()
        return seen

    milestone = twin.param_scheduler[2].milestones[0]
    assert lrs(tuned) == pytest.approx(lrs(arm), rel=1e-12)
    assert lrs(twin)[milestone] == pytest.approx(0.1 * lrs(tuned)[milestone], rel=1e-9)
