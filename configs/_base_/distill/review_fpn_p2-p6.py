# Knowledge review (KR: Chen et al., CVPR 2021, arXiv 2104.09044) on the five FPN outputs P2-P6
# of an mmdet two-stage detector: a fragment read with Config.fromfile by
# configs/review/review_fpn_* and configs/review/demo/review_*_synthcoco.py. One ReviewKDLoss
# takes the whole tuple (the review path runs from P6 down to P2, so the levels are one loss, not
# one per level) and owns the five ABF modules; the recorders hand it the neck's output tuple
# whole (no data_idx).
# P2-P6 as in the authors' detection setting (Detectron2's P6 is also a max-pool of P5; the review
# path fuses it into P5 like any deeper level); mid_channels = 256 is theirs for FPN.
# loss_weight is λ, each config's own choice (1.0 Faster R-CNN R101->R50, 0.8 Mask R-CNN
# R101->R50): a config restates it, `dict(review.distiller.distill_losses.loss_review,
# loss_weight=...)`; configs/review/README.md.
fpn_channels = 256
fpn_levels = 5
mid_channels = 256
distiller = dict(
    type='KDConfigurableDistiller',
    student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
    teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
    distill_losses=dict(
        loss_review=dict(
            type='ReviewKDLoss',
            student_channels=(fpn_channels, ) * fpn_levels,
            teacher_channels=(fpn_channels, ) * fpn_levels,
            mid_channels=mid_channels,
            loss_weight=1.0)),
    loss_forward_mappings=dict(
        loss_review=dict(
            student=dict(from_student=True, recorder='fpn'),
            teacher=dict(from_student=False, recorder='fpn'))))
