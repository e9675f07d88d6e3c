# TaT (target-aware transformer, Lin et al., CVPR 2022, arXiv 2205.10793) of the demo PSPNet
# R50-narrow teacher into the R18-narrow student: the CPU-sized twin of configs/pspnet_r18_tat.py
# (= ../tat_c5_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py), whose distiller it
# takes: hierarchical TaT on backbone C5. `make demo` runs this config.
_base_ = ['../../_base_/distill/pspnet_r50-narrow_pspnet_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

real = Config.fromfile(
    '{{ fileDirname }}/../tat_c5_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py')
# What differs: C5 of the 1/4-width ResNets (stride 8) has 128 / 512 channels and, on a 64x128
# crop, an 8x16 map. The patch and anchor settings are the real config's scaled by 1/8 with the
# map: 2x2-pixel patches in groups of 4 (p = 4 as in TaT-seg VOC R101->R18), 2x2-pixel anchor
# windows; the loss weight (alpha) is 1.0.
model = dict(
    distiller=dict(
        real.model.distiller,
        distill_losses=dict(
            loss_tat=dict(
                real.model.distiller.distill_losses.loss_tat,
                student_channels=_base_.model.architecture.decode_head.in_channels,
                teacher_channels=_base_.model.teacher.decode_head.in_channels,
                num_patches=(4, 8),
                num_groups=8,
                num_anchors=(4, 8),
                loss_weight=1.0))))
del Config, real
