# Baseline: PKD (Cao et al., NeurIPS 2022, arXiv 2207.02039) on the FPN outputs, Faster R-CNN
# R101-FPN -> R50-FPN on COCO (2x), with mmrazor's PKDLoss. The same recipe as mmrazor's
# configs/distill/mmdet/pkd/pkd_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco.py (mmrazor reports
# 40.4 box AP), written on kdseg's real-scale shell.
_base_ = ['../_base_/distill/faster-rcnn_r101_faster-rcnn_r50_2x_coco.py']

# P2-P5: with num_outs=5 and no extra convs, P6 is a max-pool of P5 and adds nothing.
fpn_levels = 4
model = dict(
    distiller=dict(
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
del fpn_levels
