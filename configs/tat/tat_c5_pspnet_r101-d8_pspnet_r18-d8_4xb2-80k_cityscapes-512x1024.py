# TaT on backbone C5: PSPNet R101-D8 (mmseg, 79.76 mIoU) -> R18-D8 (74.87 alone), Cityscapes
# 512x1024, 80k iterations, 4 GPUs x 2 images. configs/pspnet_r18_tat.py is this config.
# TaT-seg has no Cityscapes setting; the choices are justified in configs/tat/README.md. In short:
# C5 of the dilated ResNets (stride 8) is 64x128 on a 512x1024 crop, 512 -> 2048 channels (the
# embeddings map C_s to C_t). 8x8-pixel patches in groups of 4 and 4x4-pixel anchor windows are
# TaT-seg's VOC R101->R18 geometry (16x16 patches of ~8x8 pixels, G=64, 32x32 anchors of ~4x4 on
# a 129x129 map), with its weights alpha=0.1, beta=1.0, gamma=0.4.
_base_ = ['../_base_/distill/pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']

model = dict(
    distiller=dict(
        student_recorders=dict(c5=dict(type='ModuleOutputs', source='backbone')),
        teacher_recorders=dict(c5=dict(type='ModuleOutputs', source='backbone')),
        distill_losses=dict(
            loss_tat=dict(
                type='TaTLoss',
                student_channels=512,
                teacher_channels=2048,
                mode='hierarchical',
                num_patches=(8, 16),  # 8x8 pixels each on the 64x128 C5 of a 512x1024 crop
                num_groups=32,  # p = 128 / 32 = 4 patches per group, as TaT-seg VOC R18
                num_anchors=(16, 32),  # 4x4-pixel windows
                patch_weight=1.0,
                anchor_weight=0.4,
                loss_weight=0.1)),
        loss_forward_mappings=dict(
            loss_tat=dict(
                student=dict(from_student=True, recorder='c5', data_idx=3),
                teacher=dict(from_student=False, recorder='c5', data_idx=3)))))
