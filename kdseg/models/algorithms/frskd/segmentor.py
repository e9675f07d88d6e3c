"""One FRSKD training step for an mmseg ``EncoderDecoder`` (PSPNet and the like)."""
from typing import Callable, Sequence

from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.utils import add_prefix
from torch import Tensor, nn

from .step import FRSKDStep

__all__ = ['segmentor_step']


def segmentor_step(segmentor: EncoderDecoder, refine: Callable[[Sequence[Tensor]], tuple],
                   head: nn.Module, inputs: Tensor, data_samples: list) -> FRSKDStep:
    """The student's losses exactly as ``EncoderDecoder.loss`` computes them (decode head, then
    auxiliary heads, on ``extract_feat``), plus the self-teacher's:

        x = extract_feat(inputs)            the student's levels, e.g. the 4 backbone stages
        T = refine(x)                       the self-teacher's refined levels
        s = decode_head(x), t = head(T)     logits at the heads' strides

    ``head`` is the self-teacher's dense head (an mmseg decode head, its ``in_index`` choosing the
    level of T it reads); its cross-entropy flows back through T into the student backbone. The
    KD pair is both logits bilinearly resized to the input (= label) size, as mmseg's
    cross-entropy and the authors' VOC code do, so the KD is per label pixel, normalised by
    B·H·W.

    Shapes: inputs (B, 3, H, W); the KD logits (B, K, H, W) each.
    """
    x = segmentor.extract_feat(inputs)
    student_logits = segmentor.decode_head(x)
    student = add_prefix(segmentor.decode_head.loss_by_feat(student_logits, data_samples),
                         'decode')
    if segmentor.with_auxiliary_head:
        student.update(segmentor._auxiliary_head_forward_train(x, data_samples))

    refined = refine(x)
    teacher_logits = head(refined)
    self_teacher = add_prefix(head.loss_by_feat(teacher_logits, data_samples), 'decode')

    size = inputs.shape[2:]
    logits = tuple(
        resize(y, size=size, mode='bilinear', align_corners=h.align_corners)
        if y.shape[2:] != size else y
        for y, h in ((student_logits, segmentor.decode_head), (teacher_logits, head)))
    return FRSKDStep(student, self_teacher, logits, (tuple(x), refined))

