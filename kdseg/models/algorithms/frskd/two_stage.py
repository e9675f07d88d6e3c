"""One FRSKD training step for an mmdet ``TwoStageDetector`` (Faster / Mask R-CNN)."""
import copy
from typing import Callable, Dict, Sequence

import torch
from mmdet.models.detectors import TwoStageDetector
from mmdet.models.utils import unpack_gt_instances
from torch import Tensor

from .step import FRSKDStep

__all__ = ['two_stage_step']


def _rpn_names(losses: Dict[str, Tensor]) -> Dict[str, Tensor]:
    # as TwoStageDetector.loss: RPN losses keep apart from the RoI head's (loss_cls -> loss_rpn_cls)
    return {f'rpn_{k}' if 'loss' in k and 'rpn' not in k else k: v for k, v in losses.items()}


def two_stage_step(detector: TwoStageDetector, refine: Callable[[Sequence[Tensor]], tuple],
                   inputs: Tensor, data_samples: list) -> FRSKDStep:
    """The student's losses as ``TwoStageDetector.loss`` computes them, and the self-teacher's
    from the student's own heads run on the refined features:

        x = extract_feat(inputs)                 FPN levels P2-P6, (B, 256, H_i, W_i)
        T = refine(x)                            the self-teacher's levels, same shapes
        RPN loss on x (its proposals go on),     RPN loss on T
        RoIs sampled once from x's proposals;    bbox (and mask) head loss on x and on T for the
                                                 same RoIs, so their class logits pair up for KD

    The heads are shared, as the self-teacher of the authors' segmentation code shares the
    student's design: the self-teacher's detection loss trains the BiFPN, the heads and, through
    T's input, the student's neck and backbone. Proposals come from the student's RPN only
    (mmdet detaches them), so the self-teacher is trained and distilled on the RoIs the student
    uses. The KD pair: (N_RoI, K + 1) class logits, background included.
    """
    x = detector.extract_feat(inputs)
    refined = refine(x)

    proposal_cfg = detector.train_cfg.get('rpn_proposal', detector.test_cfg.rpn)
    rpn_samples = copy.deepcopy(data_samples)
    for sample in rpn_samples:  # the RPN is class-agnostic
        sample.gt_instances.labels = torch.zeros_like(sample.gt_instances.labels)
    rpn_student, proposals = detector.rpn_head.loss_and_predict(
        x, rpn_samples, proposal_cfg=proposal_cfg)
    rpn_teacher = detector.rpn_head.loss(refined, rpn_samples)

    roi_head = detector.roi_head
    gt_instances, gt_ignore, _ = unpack_gt_instances(data_samples)
    sampling = []
    for i, result in enumerate(proposals):
        result.priors = result.pop('bboxes')
        assigned = roi_head.bbox_assigner.assign(result, gt_instances[i], gt_ignore[i])
        sampling.append(roi_head.bbox_sampler.sample(
            assigned, result, gt_instances[i], feats=[level[i][None] for level in x]))

    student, self_teacher = _rpn_names(rpn_student), _rpn_names(rpn_teacher)
    bbox = [roi_head.bbox_loss(feats, sampling) for feats in (x, refined)]
    student.update(bbox[0]['loss_bbox'])
    self_teacher.update(bbox[1]['loss_bbox'])
    if roi_head.with_mask:
        for losses, feats, result in ((student, x, bbox[0]), (self_teacher, refined, bbox[1])):
            losses.update(roi_head.mask_loss(feats, sampling, result['bbox_feats'],
                                             gt_instances)['loss_mask'])
    return FRSKDStep(student, self_teacher, (bbox[0]['cls_score'], bbox[1]['cls_score']),
                     (tuple(x), refined))
