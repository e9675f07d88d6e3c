"""FRSKD: self-knowledge distillation with a BiFPN self-teacher (Ji et al., CVPR 2021,
`arXiv 2103.08273 <https://arxiv.org/abs/2103.08273>`_; METHODS.md section 4).

There is no external teacher. A self-teacher (:class:`kdseg.models.self_teachers.BiFPNSelfTeacher`,
the authors' classification BiFPNc, or :class:`~kdseg.models.self_teachers.BiFPNSegSelfTeacher`,
their segmentation BiFPNSeg stack) refines the features the student's heads read; the
self-teacher is trained on the task through its own prediction head, and the student learns from
it by attention transfer on the features and soft-label KD on the predictions. mmrazor's
``SingleTeacherDistill`` needs a separate teacher model and recorders, and its ``SelfDistill``
compares recorded layers of one model; neither runs a second prediction path on refined
features, so FRSKD is an mmrazor ``BaseAlgorithm`` of its own.

Files:

* :mod:`.algorithm` - :class:`FRSKD`, the registered algorithm a config names
  (``type='FRSKD'``): building and checking the parts, the loss dict, student-only inference.
* :mod:`.segmentor` - one training step for an mmseg ``EncoderDecoder`` (PSPNet): a dense
  self-teacher head, pixel-wise KD.
* :mod:`.two_stage` - one training step for an mmdet ``TwoStageDetector`` (Faster/Mask R-CNN):
  the student's own RPN and RoI heads run on the refined features, KD on shared sampled RoIs.
"""
from .algorithm import FRSKD

__all__ = ['FRSKD']
