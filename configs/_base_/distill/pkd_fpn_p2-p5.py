# PKD (Cao et al., NeurIPS 2022, arXiv 2207.02039) on the FPN outputs P2-P5 of an mmdet two-stage
# detector, with mmrazor's PKDLoss: the distiller of mmrazor's
# configs/distill/mmdet/pkd/pkd_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco.py; a fragment read
# with Config.fromfile by configs/pkd/pkd_fpn_* and configs/pkd/demo/*. PKD normalises each
# feature map before an MSE, so student and teacher FPNs need equal shapes (256 channels at full
# scale, 64 in the demo) and no connector.
# P2-P5: with num_outs=5 and no extra convs, P6 is a max-pool of P5 and adds nothing.
fpn_levels = 4
distiller = dict(
    type='KDConfigurableDistiller',
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
    })
