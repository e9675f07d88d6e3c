# Hierarchical TaT (kdseg TaTLoss) on the five FPN outputs P2-P6 of an mmdet two-stage detector:
# a fragment, read with Config.fromfile by configs/tat/tat_fpn_* and
# configs/tat/demo/tat_*_synthcoco.
# Why these settings: configs/tat/README.md. In short:
# - one TaTLoss per level, each with its own embeddings (levels differ in scale statistics; the
#   cost is three 1x1 convs per level);
# - patch_size 8x8 feature pixels at every level (TaT-seg's VOC patches are ~8x8 pixels) and cover
#   tiling, so any image size is distilled whole; one patch per group;
# - anchor windows of 32x32 IMAGE pixels (8, 4, 2, 1, 1 feature pixels at strides 4..64), so the
#   anchor term relates regions of the same physical size at every level;
# - the padded border of the batch is kept out of the loss: the student's TwoStageDetector.loss
#   inputs are recorded and their data samples (img_shape, batch_input_shape) passed to the loss.
fpn_channels = 256
fpn_strides = (4, 8, 16, 32, 64)
tat_loss = dict(
    type='TaTLoss',
    student_channels=fpn_channels,
    teacher_channels=fpn_channels,
    mode='hierarchical',
    patch_size=(8, 8),
    patch_weight=1.0,
    anchor_weight=0.4,
    loss_weight=0.2)
distiller = dict(
    type='KDConfigurableDistiller',
    student_recorders=dict(
        fpn=dict(type='ModuleOutputs', source='neck'),
        inputs=dict(type='MethodInputs', source='mmdet.models.detectors.TwoStageDetector.loss')),
    teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
    distill_losses={
        f'loss_tat_p{level + 2}': dict(tat_loss, anchor_size=(max(1, 32 // stride), ) * 2)
        for level, stride in enumerate(fpn_strides)
    },
    loss_forward_mappings={
        f'loss_tat_p{level + 2}': dict(
            student=dict(from_student=True, recorder='fpn', data_idx=level),
            teacher=dict(from_student=False, recorder='fpn', data_idx=level),
            data_samples=dict(from_student=True, recorder='inputs', data_idx=1))
        for level in range(len(fpn_strides))
    })
