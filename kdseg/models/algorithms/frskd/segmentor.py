"""One FRSKD training step for an mmseg ``EncoderDecoder`` (PSPNet and the like)."""
from typing import Callable, Sequence, Tuple

import torch
from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.utils import add_prefix
from torch import Tensor, nn

from .step import FRSKDStep

__all__ = ['segmentor_step']


def _logits_and_targets(head: nn.Module, refined: Sequence[Tensor],
                        dropout_in_targets: bool) -> Tuple[Tensor, Tensor]:
    """One head pass: (logits for the cross-entropy, KD targets). With ``dropout_in_targets``
    or no dropout they are the same tensor; otherwise the targets are ``conv_seg`` of the
    features that entered the head's dropout (``BaseDecodeHead.cls_seg`` applies dropout, then
    ``conv_seg``), i.e. the same pass with the dropout off, and need no gradient (KD detaches
    them)."""
    if dropout_in_targets or head.dropout is None:
        logits = head(refined)
        return logits, logits
    entering = []
    handle = head.dropout.register_forward_hook(lambda _, args, __: entering.append(args[0]))
    try:
        logits = head(refined)
    finally:
        handle.remove()
    if len(entering) != 1:
        raise RuntimeError(f'{type(head).__name__} ran its dropout {len(entering)} times in one '
                           'forward; model.self_teacher_dropout_in_targets=False needs exactly '
                           'one (cls_seg)')
    with torch.no_grad():
        targets = head.conv_seg(entering[0])
    return logits, targets


def segmentor_step(segmentor: EncoderDecoder, refine: Callable[[Sequence[Tensor]], tuple],
                   head: nn.Module, inputs: Tensor, data_samples: list,
                   dropout_in_targets: bool = True) -> FRSKDStep:
    """The student's losses exactly as ``EncoderDecoder.loss`` computes them (decode head, then
    auxiliary heads, on ``extract_feat``), plus the self-teacher's:

        x = extract_feat(inputs)            the student's levels, e.g. the 4 backbone stages
        T = refine(x)                       the self-teacher's refined levels
        s = decode_head(x), t = head(T)     logits at the heads' strides

    ``head`` is the self-teacher's dense head (an mmseg decode head, its ``in_index`` choosing the
    level of T it reads); its cross-entropy flows back through T into the student backbone
    (unless ``refine`` detached its input). The KD pair is the student's logits and the
    self-teacher's, ``t`` (without the head's dropout when ``dropout_in_targets`` is False:
    :func:`_logits_and_targets`), both bilinearly resized to the input (= label) size, as
    mmseg's cross-entropy and the authors' VOC code do, so the KD is per label pixel,
    normalised by B·H·W.

    Shapes: inputs (B, 3, H, W); the KD logits (B, K, H, W) each.
    """
    x = segmentor.extract_feat(inputs)
    student_logits = segmentor.decode_head(x)
    student = add_prefix(segmentor.decode_head.loss_by_feat(student_logits, data_samples),
                         'decode')
    if segmentor.with_auxiliary_head:
        student.update(segmentor._auxiliary_head_forward_train(x, data_samples))

    refined = refine(x)
    teacher_logits, targets = _logits_and_targets(head, refined, dropout_in_targets)
    self_teacher = add_prefix(head.loss_by_feat(teacher_logits, data_samples), 'decode')

    size = inputs.shape[2:]
    logits = tuple(
        resize(y, size=size, mode='bilinear', align_corners=h.align_corners)
        if y.shape[2:] != size else y
        for y, h in ((student_logits, segmentor.decode_head), (targets, head)))
    return FRSKDStep(student, self_teacher, logits, (tuple(x), refined))

