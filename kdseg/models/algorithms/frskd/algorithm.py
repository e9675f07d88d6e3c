"""The FRSKD algorithm: a student trained together with its own BiFPN self-teacher."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmdet.models.detectors import TwoStageDetector
from mmdet.models.roi_heads import StandardRoIHead
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmrazor.models.algorithms import BaseAlgorithm
from mmrazor.registry import MODELS
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.segmentors import EncoderDecoder
from torch import Tensor, nn

from .segmentor import segmentor_step
from .step import FRSKDStep
from .two_stage import two_stage_step

__all__ = ['FRSKD']


def _prefixed(losses: Dict[str, Tensor], prefix: str) -> Dict[str, Tensor]:
    return {f'{prefix}.{k}': v for k, v in losses.items()}


@MODELS.register_module()
class FRSKD(BaseAlgorithm):
    """FRSKD self-knowledge distillation (Ji et al., CVPR 2021; METHODS.md section 4).

    One training step (F_i: the features the student's heads read, T_i: the self-teacher's)::

        T = self_teacher(F)
        loss = L_task(student) + L_task(self-teacher)
               + α · τ² · KL(softmax(t/τ) ‖ softmax(s/τ))        distill.loss_kd (t detached)
               + β · Σ_i mean((a(F_i) − a(T_i))²)               distill.loss_at (T detached)

    Gradient flow, as the authors': KD and AT move only the student (the self-teacher's side is
    detached); the self-teacher's task loss flows through T into the student (its input F is not
    detached), unless ``detach_self_teacher_input_until`` says otherwise. α and β follow
    ``loss_kd.loss_weight`` and ``loss_at.loss_weight``; the warm-up and ramp of the reference
    (distillation off for the first 2/3 of training, then exp(−5(1−t)²)) is
    :class:`kdseg.engine.hooks.DistillRampHook`, which schedules ``model.distill_losses``.

    Tasks (the student, ``architecture``, decides):

    * an mmseg ``EncoderDecoder``: the self-teacher refines ``extract_feat`` (a PSPNet's backbone
      stages) and ``self_teacher_head`` (an mmseg decode head) predicts from the refined levels;
      KD is pixel-wise on both logits resized to the label size (:mod:`.segmentor`);
    * an mmdet ``TwoStageDetector`` with a ``StandardRoIHead`` (Faster/Mask R-CNN): the
      self-teacher refines the FPN levels at the FPN's width, the student's own RPN
      and RoI heads run on them for the self-teacher's detection loss, and KD pairs the class
      logits of the same sampled RoIs (:mod:`.two_stage`); no ``self_teacher_head``.

    Loss names: ``student.*`` (the student's own loss names), ``self_teacher.*`` (the same names
    for the self-teacher's prediction path), ``distill.loss_kd``, ``distill.loss_at``. Validation,
    testing and ``mode='tensor'`` run the student alone, as does a checkpoint of this model
    tested with the student's own config (its ``architecture.*`` part).

    Args:
        architecture: the student, a model config or model.
        self_teacher: the self-teacher config, e.g. ``dict(type='BiFPNSelfTeacher',
            in_channels=(64, 128, 256, 512), width=2)`` (the authors' classification BiFPNc) or
            ``dict(type='BiFPNSegSelfTeacher', in_channels=(64, 128, 256, 512), channels=64)``
            (their segmentation BiFPNSeg stack); ``in_channels`` are the channels of the
            student's levels, shallow to deep.
        loss_kd: the KD loss, e.g. ``dict(type='SoftLabelKDLoss', temperature=1, loss_weight=1)``.
        loss_at: the AT loss, e.g. ``dict(type='AttentionTransferLoss', loss_weight=50)``.
        self_teacher_head: segmentation only: the self-teacher's decode head config.
        detach_self_teacher_input_until: whether the self-teacher's task loss reaches the
            student (through T's input F), by training iteration ``i`` (``runner.iter``,
            0-based, which mmengine's default ``RuntimeInfoHook`` publishes in the
            ``MessageHub`` before every iteration, as mmdet's heads read it): ``0`` never
            detaches (the authors'; the default), ``N > 0`` detaches F while ``i < N`` (the
            self-teacher learns the task without pulling the backbone, e.g. until distillation
            starts) and passes the gradient from iteration N on, ``-1`` always detaches. The
            student's own losses, KD and AT are unaffected (AT still reads the undetached F).
            ``tools/train.py --iters`` scales N with the budget.
        self_teacher_dropout_in_targets: segmentation only; whether the KD targets t carry the
            self-teacher head's dropout. ``True`` (the default, kdseg's behaviour so far): t
            is the logits of the head pass that also gives the self-teacher's cross-entropy,
            dropout included. ``False``: t is the same head pass without its dropout, as an
            eval-mode dropout would give (the authors' classifier has no dropout, so their
            targets have none). No second head pass: the head runs once, in training mode
            (its BatchNorms see the batch once); the features entering its dropout are kept,
            and ``conv_seg`` applied to them without the dropout gives t, while the
            cross-entropy keeps the dropped-out logits. Needs an mmseg decode head that
            predicts through ``BaseDecodeHead.cls_seg`` (dropout, then ``conv_seg``).
        data_preprocessor: default the student's.
        init_cfg: mmengine init config.
    """

    def __init__(self, architecture: Union[BaseModel, Dict], self_teacher: Dict, loss_kd: Dict,
                 loss_at: Dict, self_teacher_head: Optional[Dict] = None,
                 detach_self_teacher_input_until: int = 0,
                 self_teacher_dropout_in_targets: bool = True,
                 data_preprocessor: Optional[Union[Dict, nn.Module]] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        # in-place activations stay in place: FRSKD uses no recorders, and the student then runs
        # exactly as it does trained alone
        super().__init__(architecture, data_preprocessor, init_cfg, module_inplace=True)
        until = detach_self_teacher_input_until
        if isinstance(until, bool) or not isinstance(until, int) or until < -1:
            raise ValueError('model.detach_self_teacher_input_until must be an int: 0 (never '
                             'detach), N > 0 (detach before iteration N) or -1 (always), got '
                             f'{until!r}')
        self.detach_self_teacher_input_until = until
        if not isinstance(self_teacher_dropout_in_targets, bool):
            raise ValueError('model.self_teacher_dropout_in_targets must be True or False, got '
                             f'{self_teacher_dropout_in_targets!r}')
        self.self_teacher_dropout_in_targets = self_teacher_dropout_in_targets
        try:
            self.self_teacher = MODELS.build(self_teacher)
        except ValueError as err:
            raise ValueError(f'model.self_teacher: {err}') from err
        self.distill_losses = nn.ModuleDict(
            dict(loss_kd=MODELS.build(loss_kd), loss_at=MODELS.build(loss_at)))
        student = self.architecture
        if isinstance(student, EncoderDecoder):
            if self_teacher_head is None:
                raise ValueError('model.self_teacher_head: a segmentor student needs the '
                                 'self-teacher\'s decode head (e.g. dict(type="mmseg.FCNHead", '
                                 'in_index=0, ...))')
            self.self_teacher_head = MODELS.build(self_teacher_head)
            self._check_head_channels()
            if not self_teacher_dropout_in_targets:
                self._check_head_predicts_through_cls_seg()
        elif isinstance(student, TwoStageDetector):
            if self_teacher_head is not None:
                raise ValueError('model.self_teacher_head: a two-stage detector\'s self-teacher '
                                 'predicts with the student\'s own RPN and RoI heads; remove it')
            if not self_teacher_dropout_in_targets:
                raise ValueError('model.self_teacher_dropout_in_targets=False: a two-stage '
                                 'detector\'s self-teacher predicts with the student\'s RoI '
                                 'head, which has no dropout in mmdet; remove the key')
            if not student.with_rpn or not isinstance(student.roi_head, StandardRoIHead):
                raise ValueError('model.architecture: FRSKD supports two-stage detectors with an '
                                 'RPN and a StandardRoIHead (Faster/Mask R-CNN), got roi_head '
                                 f'{type(student.roi_head).__name__}')
            self._check_detector_channels()
        else:
            raise TypeError('model.architecture: FRSKD trains an mmseg EncoderDecoder or an mmdet '
                            f'TwoStageDetector, got {type(student).__name__}')

    def _check_head_channels(self) -> None:
        head, out = self.self_teacher_head, self.self_teacher.out_channels
        index = head.in_index if isinstance(head.in_index, (list, tuple)) else [head.in_index]
        wanted = head.in_channels if isinstance(head.in_channels, (list, tuple)) \
            else [head.in_channels]
        try:
            given = [out[i] for i in index]
        except IndexError:
            raise ValueError(f'model.self_teacher_head.in_index={head.in_index} but the '
                             f'self-teacher has {len(out)} levels') from None
        if getattr(head, 'input_transform', None) == 'resize_concat':
            given = [sum(given)]  # mmseg keeps the concatenation's channels
        if list(wanted) != given:
            raise ValueError(f'model.self_teacher_head.in_channels={head.in_channels}, but the '
                             f'self-teacher\'s levels {head.in_index} have {given} channels '
                             f'(model.self_teacher: out_channels = {out})')

    def _check_head_predicts_through_cls_seg(self) -> None:
        head = self.self_teacher_head
        if not isinstance(head, BaseDecodeHead) or type(head).cls_seg is not \
                BaseDecodeHead.cls_seg:
            raise ValueError('model.self_teacher_dropout_in_targets=False needs a self-teacher '
                             'head that predicts through mmseg\'s BaseDecodeHead.cls_seg '
                             f'(dropout, then conv_seg); {type(head).__name__} does not')

    def _check_detector_channels(self) -> None:
        wanted = self.architecture.rpn_head.in_channels
        if any(c != wanted for c in self.self_teacher.out_channels):
            raise ValueError(
                f'model.self_teacher: its levels have {self.self_teacher.out_channels} channels '
                f'(its out_channels), but the student\'s RPN and RoI heads, which run on them, '
                f'take {wanted}; use in_channels=(the FPN\'s out_channels,) * levels and width=1 '
                '(BiFPNSelfTeacher) or no channels (BiFPNSegSelfTeacher)')

    def detaches_self_teacher_input(self) -> bool:
        """Whether this training step detaches the self-teacher's input (see
        ``detach_self_teacher_input_until``)."""
        until = self.detach_self_teacher_input_until
        if until in (0, -1):
            return until == -1
        it = MessageHub.get_current_instance().get_info('iter')
        if it is None:
            raise RuntimeError(
                f'model.detach_self_teacher_input_until={until} needs the training iteration, '
                'which mmengine\'s RuntimeInfoHook publishes as MessageHub info "iter" in a '
                'Runner; outside one, set it (MessageHub.get_current_instance().update_info('
                '"iter", i))')
        return it < until

    def refine(self, features: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """T = self_teacher(F) (F detached first while ``detaches_self_teacher_input()``), with
        the config key in any error about F."""
        if self.detaches_self_teacher_input():
            features = [f.detach() for f in features]
        try:
            return self.self_teacher(features)
        except ValueError as err:
            shapes = [tuple(f.shape) for f in features]
            raise ValueError(f'model.self_teacher: {err}. The student gives {len(shapes)} levels '
                             f'{shapes}; set in_channels to their channels') from err

    def train_step_parts(self, inputs: Tensor, data_samples: List) -> FRSKDStep:
        """The task-specific part of a training step (student and self-teacher outputs)."""
        if isinstance(self.architecture, EncoderDecoder):
            return segmentor_step(self.architecture, self.refine, self.self_teacher_head, inputs,
                                  data_samples, self.self_teacher_dropout_in_targets)
        return two_stage_step(self.architecture, self.refine, inputs, data_samples)

    def loss(self, inputs: Tensor, data_samples: Optional[List] = None) -> Dict[str, Tensor]:
        step = self.train_step_parts(inputs, data_samples)
        losses = _prefixed(step.student, 'student')
        losses.update(_prefixed(step.self_teacher, 'self_teacher'))
        losses['distill.loss_kd'] = self.distill_losses['loss_kd'](*step.logits)
        losses['distill.loss_at'] = self.distill_losses['loss_at'](*step.features)
        return losses
