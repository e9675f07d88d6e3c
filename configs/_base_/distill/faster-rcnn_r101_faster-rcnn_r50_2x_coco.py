# Real-scale distillation shell: Faster R-CNN R101-FPN teacher (mmdet's COCO 2x checkpoint,
# 39.8 box AP) -> Faster R-CNN R50-FPN student (ImageNet-initialised; 38.4 box AP trained alone),
# COCO, 2x schedule, 8 GPUs x 2 images: everything but the model is mmdet's student config.
# FpnTeacherDistill runs only the teacher's backbone and neck, so a method config may record
# `backbone.*` or `neck` outputs of the teacher, not its heads. The distiller is empty: a method
# config adds its recorders, connectors, losses and loss_forward_mappings under model.distiller
# (see configs/pkd/ for a complete one).
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py']

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='KDFpnTeacherDistill',
    architecture=_base_.model,  # carries _scope_='mmdet' from the mmdet:: base
    # built by mmengine.hub.get_model; its ImageNet init is never run, teacher_ckpt replaces it
    teacher=dict(cfg_path='mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py', pretrained=False),
    teacher_ckpt='https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r101_fpn_2x_coco/faster_rcnn_r101_fpn_2x_coco_bbox_mAP-0.398_20200504_210455-1d2dac9c.pth',  # noqa: E501
    distiller=dict(type='KDConfigurableDistiller'))

find_unused_parameters = True
# validates the student and, once, the teacher (its metrics are logged with a `teacher.` prefix)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
