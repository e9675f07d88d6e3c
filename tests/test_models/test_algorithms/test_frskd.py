"""FRSKD (kdseg.models.algorithms.frskd) on the demo students, PSPNet and Faster/Mask R-CNN.

What METHODS.md section 4 asks of one training step, checked on tiny inputs (2 images of 64x64):

    total = L_task(student) + L_task(self-teacher) + alpha * KD + beta * sum_i AT_i

* the loss names (``student.*``, ``self_teacher.*``, ``distill.loss_kd``, ``distill.loss_at``);
* the gradient flow: KD and AT move the student only, the self-teacher's task loss reaches the
  student's backbone through the self-teacher's (not detached) input, the student's task loss
  never reaches the self-teacher;
* the student's losses are exactly those of the student trained alone (same weights, same RNG);
* prediction and ``mode='tensor'`` run the student only, with the student's own outputs;
* the KD pairs' shapes, the build-time errors, and DistillRampHook on an FRSKD model.

The models are the demo configs' (configs/frskd/demo/) with PyTorch's default initialisation; the
inputs are random, already normalised tensors with fake labels, so the data preprocessor is only
used for the detection samples (padding metainfo).
"""
import copy
import functools
import os.path as osp
from types import SimpleNamespace
from typing import Dict, List

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmrazor.registry import MODELS
from mmseg.structures import SegDataSample

# importing kdseg (here through its submodules) registers FRSKD, BiFPNSelfTeacher and the
# FRSKD losses in mmrazor's MODELS
from conftest import ROOT
from kdseg.engine.hooks import DistillRampHook
from kdseg.models.algorithms.frskd import FRSKD

DEMO = osp.join(ROOT, 'configs', 'frskd', 'demo')
PSPNET = 'frskd_pspnet_r18-narrow_synthcity.py'
FASTER = 'frskd_faster-rcnn_r18-narrow_synthcoco.py'
MASK = 'frskd_mask-rcnn_r18-narrow_synthcoco.py'
SIZE = 64  # input height and width
BATCH = 2  # > 1: the PSP head's 1x1 pooling branch has a BatchNorm


@pytest.fixture(scope='module', autouse=True)
def _one_thread():
    """Tiny models on a busy machine: one intra-op thread is faster, and leaves the other core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.lru_cache(maxsize=None)
def _parse(name: str) -> Config:
    return Config.fromfile(osp.join(DEMO, name))


def _config(name: str) -> Config:
    """A fresh copy of a demo config, its default scope set as the Runner sets it."""
    cfg = copy.deepcopy(_parse(name))
    init_default_scope(cfg.default_scope)
    return cfg


def _build(model_cfg, seed: int = 0):
    torch.manual_seed(seed)
    return MODELS.build(copy.deepcopy(model_cfg))


def _student_alone(cfg: Config, model: FRSKD):
    """The student built from its own config, with the FRSKD model's student weights."""
    student = _build(cfg.model.architecture, seed=1)  # another init: the weights must be loaded
    student.load_state_dict(model.architecture.state_dict(), strict=True)
    return student


# ------------------------------------------------------------------------------------ fake data


def _seg_batch(num_classes: int = 19, seed: int = 0):
    """Normalised inputs (B, 3, H, W) and SegDataSamples with random labels (B, 1, H, W)."""
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(BATCH, 3, SIZE, SIZE, generator=g)
    samples = []
    for _ in range(BATCH):
        sample = SegDataSample(metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
                                             pad_shape=(SIZE, SIZE)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, SIZE, SIZE), generator=g))
        samples.append(sample)
    return inputs, samples


def _det_batch(model, with_mask: bool = False):
    """mmdet's demo inputs (uint8 images, boxes of classes 1-2, masks) through the model's
    DetDataPreprocessor: (B, 3, 64, 64) and DetDataSamples with batch_input_shape/pad_shape."""
    from mmdet.testing import demo_mm_inputs
    data = demo_mm_inputs(BATCH, (3, SIZE, SIZE), num_items=[3, 2], num_classes=3,
                          with_mask=with_mask)
    data = model.data_preprocessor(data, True)
    return data['inputs'], data['data_samples']


# ------------------------------------------------------------------------------------- helpers


def _self_teacher_params(model: FRSKD) -> List[torch.nn.Parameter]:
    params = list(model.self_teacher.parameters())
    if hasattr(model, 'self_teacher_head'):
        params += list(model.self_teacher_head.parameters())
    return params


def _grads(loss: torch.Tensor, params) -> List:
    return torch.autograd.grad(loss, list(params), retain_graph=True, allow_unused=True)


def _none_or_zero(grads) -> bool:
    return all(g is None or not g.any() for g in grads)


def _nonzero(grads) -> bool:
    return any(g is not None and bool(g.any()) for g in grads)


def _sum(losses: Dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    """The sum of the ``prefix``ed losses (the names with 'loss', as parse_losses counts; an
    mmdet RPN loss is a list, one per level)."""
    terms = [t for k, v in losses.items() if k.startswith(prefix) and 'loss' in k
             for t in _flatten(v)]
    assert terms, (prefix, list(losses))
    return sum(terms)


def _flatten(out) -> List[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for k in sorted(out) for t in _flatten(out[k])]
    return [t for o in out for t in _flatten(o)]


def _record_calls(model: FRSKD) -> List[str]:
    """Forward hooks on the self-teacher (and its head): the names of the modules called."""
    calls = []
    for name in ('self_teacher', 'self_teacher_head'):
        if hasattr(model, name):
            getattr(model, name).register_forward_hook(
                lambda *_, name=name: calls.append(name))
    return calls


# ------------------------------------------------------------------------------ 1. loss names


def test_pspnet_loss_names_and_total():
    cfg = _config(PSPNET)
    model = _build(cfg.model).train()
    inputs, samples = _seg_batch()
    torch.manual_seed(7)
    losses = model.loss(inputs, samples)
    assert set(losses) == {
        'student.decode.loss_ce', 'student.decode.acc_seg', 'student.aux.loss_ce',
        'student.aux.acc_seg', 'self_teacher.decode.loss_ce', 'self_teacher.decode.acc_seg',
        'distill.loss_kd', 'distill.loss_at'}
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert losses['distill.loss_kd'] > 0 and losses['distill.loss_at'] > 0

    # total = task(student) + task(self-teacher) + alpha*KD + beta*sum AT, the distillation terms
    # recomputed from the same step (same RNG state) by the formulas of METHODS.md section 4
    torch.manual_seed(7)
    step = model.train_step_parts(inputs, samples)
    alpha = model.distill_losses['loss_kd'].loss_weight
    beta = model.distill_losses['loss_at'].loss_weight
    tau = model.distill_losses['loss_kd'].temperature
    assert (alpha, beta, tau) == (1.0, 50.0, 1.0)  # the demo config's, used as they are
    s, t = step.logits
    kl = (t.softmax(1) * (t.log_softmax(1) - s.log_softmax(1))).sum(1).mean()
    assert torch.allclose(losses['distill.loss_kd'], alpha * tau**2 * kl, rtol=1e-5)

    def attention(f):
        return torch.nn.functional.normalize(f.pow(2).mean(1).flatten(1), dim=1)

    at = sum(((attention(f) - attention(r))**2).mean() for f, r in zip(*step.features))
    assert torch.allclose(losses['distill.loss_at'], beta * at, rtol=1e-5)
    for name, value in step.student.items():
        assert torch.equal(losses[f'student.{name}'], value)
    for name, value in step.self_teacher.items():
        assert torch.equal(losses[f'self_teacher.{name}'], value)

    total, _ = model.parse_losses(losses)
    expected = (_sum(losses, 'student.') + _sum(losses, 'self_teacher.')
                + losses['distill.loss_kd'] + losses['distill.loss_at'])
    assert torch.allclose(total, expected, rtol=1e-6)


@pytest.mark.parametrize('name,with_mask', [(FASTER, False), (MASK, True)])
def test_two_stage_loss_names(name, with_mask):
    cfg = _config(name)
    model = _build(cfg.model).train()
    inputs, samples = _det_batch(model, with_mask)
    losses = model.loss(inputs, samples)
    task = {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'acc', 'loss_bbox'}
    if with_mask:
        task.add('loss_mask')
    assert set(losses) == ({f'student.{k}' for k in task} | {f'self_teacher.{k}' for k in task}
                           | {'distill.loss_kd', 'distill.loss_at'})
    # mmdet's RPN losses are lists, one per FPN level
    assert all(torch.isfinite(t).all() for t in _flatten(losses))
    assert losses['distill.loss_kd'] > 0 and losses['distill.loss_at'] > 0


# --------------------------------------------------------------------------- 2. gradient flow


def _check_gradient_flow(model: FRSKD, losses: Dict[str, torch.Tensor], student_backbone):
    self_teacher = _self_teacher_params(model)
    backbone = list(student_backbone.parameters())
    distill = losses['distill.loss_kd'] + losses['distill.loss_at']
    assert distill > 0

    # (a) KD + AT: the self-teacher's side is detached
    assert _none_or_zero(_grads(distill, self_teacher)), 'KD/AT reached the self-teacher'
    assert _nonzero(_grads(distill, backbone)), 'KD/AT did not reach the student backbone'
    for part in ('distill.loss_kd', 'distill.loss_at'):  # each term on its own
        assert _none_or_zero(_grads(losses[part], self_teacher)), part
        assert _nonzero(_grads(losses[part], backbone)), part

    # (b) the self-teacher's task loss trains the self-teacher, and the student's backbone
    # through the self-teacher's input F (not detached)
    teacher_task = _sum(losses, 'self_teacher.')
    assert _nonzero(_grads(teacher_task, model.self_teacher.parameters()))
    if hasattr(model, 'self_teacher_head'):
        assert _nonzero(_grads(teacher_task, model.self_teacher_head.parameters()))
    assert _nonzero(_grads(teacher_task, backbone)), \
        'the self-teacher\'s task loss did not reach the student backbone'

    # (c) the student's own task loss never reaches the self-teacher
    student_task = _sum(losses, 'student.')
    assert _none_or_zero(_grads(student_task, self_teacher))
    assert _nonzero(_grads(student_task, backbone))


def test_pspnet_gradient_flow():
    cfg = _config(PSPNET)
    model = _build(cfg.model).train()
    inputs, samples = _seg_batch()
    losses = model.loss(inputs, samples)
    _check_gradient_flow(model, losses, model.architecture.backbone)


def test_faster_rcnn_gradient_flow():
    cfg = _config(FASTER)
    model = _build(cfg.model).train()
    inputs, samples = _det_batch(model)
    losses = model.loss(inputs, samples)
    _check_gradient_flow(model, losses, model.architecture.backbone)
    # the heads are shared: the self-teacher's detection loss trains the student's RoI head too
    assert _nonzero(_grads(_sum(losses, 'self_teacher.'),
                           model.architecture.roi_head.parameters()))


# ------------------------------------------------------------------ 3. the student's own losses


def test_pspnet_student_losses_are_the_student_alones():
    """Train mode, dropout on (the demo heads' dropout_ratio=0.1): FRSKD's student losses are
    bit-identical to the student's own loss() from the same RNG state, since FRSKD runs the
    student's decode and auxiliary heads first, as EncoderDecoder.loss does."""
    cfg = _config(PSPNET)
    assert cfg.model.architecture.decode_head.dropout_ratio > 0
    model = _build(cfg.model).train()
    student = _student_alone(cfg, model).train()
    inputs, samples = _seg_batch()

    torch.manual_seed(123)
    ours = model.loss(inputs, copy.deepcopy(samples))
    torch.manual_seed(123)
    alone = student.loss(inputs, copy.deepcopy(samples))
    assert {f'student.{k}' for k in alone} == {k for k in ours if k.startswith('student.')}
    for name, value in alone.items():
        assert torch.equal(ours[f'student.{name}'], value), name

    # the comparison is not vacuous: another dropout draw gives another loss
    torch.manual_seed(124)
    other = student.loss(inputs, copy.deepcopy(samples))
    assert not torch.equal(other['decode.loss_ce'], alone['decode.loss_ce'])


def _deterministic_samplers(cfg: Config) -> Config:
    """RandomSamplers that keep every positive and negative (no random draw at all)."""
    train_cfg = cfg.model.architecture.train_cfg
    for stage in ('rpn', 'rcnn'):
        train_cfg[stage].sampler.num = 10**6
    return cfg


@pytest.mark.parametrize('name,with_mask', [(FASTER, False), (MASK, True)])
def test_two_stage_student_losses_are_the_student_alones(name, with_mask):
    """With the demo samplers (random), the RPN losses match the student's own from the same RNG
    state, the RoI losses need not: FRSKD runs the self-teacher's RPN loss, whose anchor sampler
    draws from the global RNG, between the student's RPN and the student's RoI sampling, so the
    student's RoIs are another (equally distributed) random sample. With samplers that draw
    nothing (every candidate kept), every student loss is identical."""
    cfg = _config(name)
    model = _build(cfg.model).train()
    student = _student_alone(cfg, model).train()
    inputs, samples = _det_batch(model, with_mask)

    torch.manual_seed(123)
    ours = model.loss(inputs, copy.deepcopy(samples))
    torch.manual_seed(123)
    alone = student.loss(inputs, copy.deepcopy(samples))
    assert {f'student.{k}' for k in alone} == {k for k in ours if k.startswith('student.')}
    for key in ('loss_rpn_cls', 'loss_rpn_bbox'):
        for a, b in zip(_flatten(ours[f'student.{key}']), _flatten(alone[key]), strict=True):
            assert torch.equal(a, b), key

    cfg = _deterministic_samplers(_config(name))
    model = _build(cfg.model).train()
    student = _student_alone(cfg, model).train()
    ours = model.loss(inputs, copy.deepcopy(samples))
    alone = student.loss(inputs, copy.deepcopy(samples))
    for key, value in alone.items():
        for a, b in zip(_flatten(ours[f'student.{key}']), _flatten(value), strict=True):
            assert torch.equal(a, b), key


# ------------------------------------------------------------- 4. inference: the student alone


def _predict_and_tensor(model, student, inputs, samples):
    """``predict`` and ``tensor`` outputs of the FRSKD model and of the student alone."""
    with torch.no_grad():
        return [net(inputs, copy.deepcopy(samples), mode=mode)
                for mode in ('predict', 'tensor') for net in (model, student)]


def test_pspnet_predict_and_tensor_run_the_student_only():
    cfg = _config(PSPNET)
    model = _build(cfg.model)
    calls = _record_calls(model)
    inputs, samples = _seg_batch()
    model.train()
    model.loss(inputs, samples)  # the hooks see the self-teacher in training
    assert calls == ['self_teacher', 'self_teacher_head']
    calls.clear()

    model.eval()
    student = _student_alone(cfg, model).eval()  # after training: BN statistics copied too
    ours, alone, ours_tensor, alone_tensor = _predict_and_tensor(model, student, inputs, samples)
    assert calls == []
    assert len(ours) == BATCH
    for a, b in zip(ours, alone):
        assert torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)
        assert torch.equal(a.seg_logits.data, b.seg_logits.data)
    assert ours_tensor.shape == (BATCH, 19, SIZE // 8, SIZE // 8)
    assert torch.equal(ours_tensor, alone_tensor)


def test_faster_rcnn_predict_and_tensor_run_the_student_only():
    cfg = _config(FASTER)
    model = _build(cfg.model)
    calls = _record_calls(model)
    inputs, samples = _det_batch(model)
    model.eval()
    student = _student_alone(cfg, model).eval()
    ours, alone, ours_tensor, alone_tensor = _predict_and_tensor(model, student, inputs, samples)
    assert calls == []
    assert len(ours) == BATCH
    assert sum(len(s.pred_instances) for s in ours) > 0, 'no detections: nothing compared'
    for a, b in zip(ours, alone):
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(a.pred_instances[key], b.pred_instances[key]), key
    for a, b in zip(_flatten(ours_tensor), _flatten(alone_tensor), strict=True):
        assert torch.equal(a, b)


# ------------------------------------------------------------------------------- 5. KD pairs


def test_pspnet_kd_logits_are_at_the_input_size():
    cfg = _config(PSPNET)
    model = _build(cfg.model).train()
    inputs, samples = _seg_batch()
    step = model.train_step_parts(inputs, samples)
    assert [tuple(y.shape) for y in step.logits] == [(BATCH, 19, SIZE, SIZE)] * 2
    student, refined = step.features
    assert len(student) == len(refined) == 4
    for f, r, c in zip(student, refined, (16, 32, 64, 128)):
        assert f.shape[1] == c and r.shape[1] == 2 * c  # width 2
        assert f.shape[0] == r.shape[0] and f.shape[2:] == r.shape[2:]


def test_faster_rcnn_kd_logits_pair_the_same_rois():
    cfg = _config(FASTER)
    model = _build(cfg.model).train()
    inputs, samples = _det_batch(model)
    step = model.train_step_parts(inputs, samples)
    s, t = step.logits
    num_classes = cfg.model.architecture.roi_head.bbox_head.num_classes
    assert s.dim() == 2 and s.shape == t.shape and s.shape[1] == num_classes + 1
    assert 0 < s.shape[0] <= BATCH * cfg.model.architecture.train_cfg.rcnn.sampler.num
    assert len(step.features[0]) == len(step.features[1]) == 5
    for f, r in zip(*step.features):
        assert f.shape == r.shape  # width 1: the FPN's shapes


# ------------------------------------------------------------------------------ 6. build errors


def test_segmentor_needs_a_self_teacher_head():
    cfg = _config(PSPNET)
    del cfg.model['self_teacher_head']
    with pytest.raises(ValueError, match=r'model\.self_teacher_head'):
        _build(cfg.model)


def test_segmentor_head_channels_must_match_the_refined_level():
    cfg = _config(PSPNET)
    cfg.model.self_teacher_head.in_channels = 128  # the level has 2 x 128 = 256
    with pytest.raises(ValueError, match=r'model\.self_teacher_head\.in_channels'):
        _build(cfg.model)
    cfg = _config(PSPNET)
    cfg.model.self_teacher_head.in_index = 4  # 4 levels: 0-3
    with pytest.raises(ValueError, match=r'model\.self_teacher_head\.in_index'):
        _build(cfg.model)


def test_detector_takes_no_self_teacher_head():
    cfg = _config(FASTER)
    cfg.model.self_teacher_head = dict(_scope_='mmseg', type='FCNHead', in_channels=64,
                                       channels=16, num_classes=3)
    with pytest.raises(ValueError, match=r'model\.self_teacher_head'):
        _build(cfg.model)


def test_detector_self_teacher_width_must_keep_the_rpn_channels():
    cfg = _config(FASTER)
    cfg.model.self_teacher.width = 2  # 128 channels, the RPN takes 64
    with pytest.raises(ValueError, match=r'model\.self_teacher'):
        _build(cfg.model)


def test_self_teacher_in_channels_must_match_the_student_at_the_first_loss():
    cfg = _config(PSPNET)
    cfg.model.self_teacher.in_channels = (16, 32, 64, 64)  # the last stage has 128
    cfg.model.self_teacher_head.in_channels = 128  # = 2 x 64: the model builds
    model = _build(cfg.model).train()
    with pytest.raises(ValueError, match=r'model\.self_teacher.*in_channels'):
        model.loss(*_seg_batch())

    cfg = _config(FASTER)
    cfg.model.self_teacher.in_channels = (64, ) * 4  # the FPN gives 5 levels
    model = _build(cfg.model).train()
    with pytest.raises(ValueError, match=r'model\.self_teacher.*5 levels'):
        model.loss(*_det_batch(model))


class _NotAStudent(BaseModel):
    """A BaseModel that is neither an mmseg EncoderDecoder nor an mmdet TwoStageDetector."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.conv(inputs)


def test_other_architectures_are_refused():
    parts = dict(self_teacher=dict(_scope_='mmrazor', type='BiFPNSelfTeacher', in_channels=(8, 8)),
                 loss_kd=dict(_scope_='mmrazor', type='SoftLabelKDLoss'),
                 loss_at=dict(_scope_='mmrazor', type='AttentionTransferLoss'))
    with pytest.raises(TypeError, match=r'model\.architecture.*_NotAStudent'):
        FRSKD(architecture=_NotAStudent(), **parts)
    # a two-stage detector without an RPN or a StandardRoIHead
    cfg = _config(FASTER)
    cfg.model.architecture.roi_head.type = 'CascadeRoIHead'
    cfg.model.architecture.roi_head.num_stages = 1
    cfg.model.architecture.roi_head.stage_loss_weights = [1]
    cfg.model.architecture.roi_head.bbox_head = [cfg.model.architecture.roi_head.bbox_head]
    cfg.model.architecture.train_cfg.rcnn = [cfg.model.architecture.train_cfg.rcnn]
    with pytest.raises(ValueError, match=r'model\.architecture.*CascadeRoIHead'):
        _build(cfg.model)


def test_resize_concat_self_teacher_head_builds_and_its_wrong_sum_is_named():
    # mmseg stores a resize_concat head's in_channels as the sum of its levels' channels
    cfg = _config(PSPNET)
    cfg.model.self_teacher_head = dict(
        _scope_='mmseg', type='FCNHead', in_channels=[128, 256], in_index=[2, 3],
        input_transform='resize_concat', channels=16, num_classes=19)
    model = _build(cfg.model)  # levels 2, 3 have 2 x 64, 2 x 128 channels: a valid head
    assert model.self_teacher_head.in_channels == 384
    model.train()
    assert torch.isfinite(model.loss(*_seg_batch())['self_teacher.decode.loss_ce'])
    cfg.model.self_teacher_head.in_channels = [128, 128]
    with pytest.raises(ValueError, match=r'model\.self_teacher_head\.in_channels=256.*\[384\]'):
        _build(cfg.model)


# --------------------------------------------------------------------------- 7. the ramp hook


def test_distill_ramp_hook_switches_frskd_distillation_off():
    cfg = _config(PSPNET)
    model = _build(cfg.model)
    assert {k: m.loss_weight for k, m in model.distill_losses.items()} == \
        {'loss_kd': 1.0, 'loss_at': 50.0}
    runner = SimpleNamespace(model=model, iter=0)
    hook = DistillRampHook(begin_iter=5, ramp_iters=10)
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    assert {k: m.loss_weight for k, m in model.distill_losses.items()} == \
        {'loss_kd': 0.0, 'loss_at': 0.0}
    model.train()
    losses = model.loss(*_seg_batch())
    assert losses['distill.loss_kd'] == 0 and losses['distill.loss_at'] == 0
    runner.iter = 14  # the end of the ramp: full weights
    hook.before_train_iter(runner, 14)
    assert {k: m.loss_weight for k, m in model.distill_losses.items()} == \
        {'loss_kd': 1.0, 'loss_at': 50.0}
