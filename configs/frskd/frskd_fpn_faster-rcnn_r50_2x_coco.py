# FRSKD (Ji et al., CVPR 2021, arXiv 2103.08273) self-distillation of Faster R-CNN R50-FPN on COCO
# (2x): everything but the model is mmdet's student config (38.4 box AP trained alone). No
# teacher. The self-teacher is a BiFPN over the FPN outputs P2-P6 (as the authors' segmentation
# code stacks its self-teacher BiFPN on the student's own feature pyramid) at the FPN's width
# (width 1: 256 channels, every level halving the previous one, the reference's regime), so the
# student's own RPN and RoI heads run on the refined levels and give the self-teacher its
# detection loss; KD pairs the class logits of the same sampled RoIs. alpha = 1, beta = 50,
# tau = 1 (the authors' segmentation setting; they publish no detection setting); distillation
# off for the first 16 of 24 epochs, then the exp(-5(1-t)^2) ramp. Cost and the design:
# configs/frskd/README.md.
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py']

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='FRSKD',
    architecture=_base_.model,  # carries _scope_='mmdet' from the mmdet:: base
    self_teacher=dict(type='BiFPNSelfTeacher', in_channels=(256, ) * 5, width=1, depth=2),
    loss_kd=dict(type='SoftLabelKDLoss', temperature=1.0, loss_weight=1.0),
    loss_at=dict(type='AttentionTransferLoss', loss_weight=50.0))

# in iterations (the hook follows runner.iter): 7330 iterations per epoch at mmdet's 8 GPUs x 2
# images on COCO train2017's 117266 annotated images; 16 epochs off, 8 epochs of ramp
custom_hooks = [dict(type='DistillRampHook', begin_iter=16 * 7330, ramp_iters=8 * 7330)]
