# PKD (Cao et al., NeurIPS 2022, arXiv 2207.02039) of the demo Mask R-CNN R50-narrow teacher into
# the R18-narrow student on the FPN outputs, with mmrazor's PKDLoss and FpnTeacherDistill (the
# teacher runs backbone + neck only): the recipe of mmrazor's
# configs/distill/mmdet/pkd/pkd_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco.py, CPU-sized and
# applied to Mask R-CNN (the FPN feeds the mask head too, so it distils both tasks).
# Data, schedule and runtime are the student run's, so the two students are directly comparable.
_base_ = ['./mask-rcnn_r18-narrow_fpn_synthcoco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

# The teacher's model dict comes from its own config, so a change there reaches the distillation
# without being copied here. Both FPNs have 64 channels: PKD needs equal shapes.
teacher_cfg = Config.fromfile('{{ fileDirname }}/mask-rcnn_r50-narrow_fpn_synthcoco.py')
del Config

# P2-P5 only, as in mmrazor: with num_outs=5 and no extra convs, P6 is a max-pool of P5.
fpn_levels = 4
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='FpnTeacherDistill',
    architecture=_base_.model,  # carries _scope_='mmdet' from mmdet's model config
    teacher=teacher_cfg.model,
    # where `python tools/train.py configs/demo/mask-rcnn_r50-narrow_fpn_synthcoco.py` saves
    # its last checkpoint; tools and tests pass theirs with --cfg-options model.teacher_ckpt=...
    teacher_ckpt=f'work_dirs/mask-rcnn_r50-narrow_fpn_synthcoco/iter_{teacher_cfg.max_iters}.pth',
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses={
            f'loss_pkd_fpn{i}': dict(type='PKDLoss', loss_weight=6)
            for i in range(fpn_levels)
        },
        loss_forward_mappings={
            f'loss_pkd_fpn{i}': dict(
                preds_S=dict(from_student=True, recorder='fpn', data_idx=i),
                preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
            for i in range(fpn_levels)
        }))
del teacher_cfg, fpn_levels

find_unused_parameters = True
# validates the student and, once, the teacher (its metrics are logged with a `teacher.` prefix)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
