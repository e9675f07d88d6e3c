# Knowledge review (KR: Chen et al., CVPR 2021, arXiv 2104.09044) of PSPNet R101-D8 into PSPNet
# R18-D8 on the four backbone stages, Cityscapes 512x1024. The paper has no semantic segmentation
# setting; this one follows its classification use: the review path runs over the backbone's
# stage outputs (the recorder's whole tuple, shallow to deep), student R18 (64, 128, 256, 512)
# channels, teacher R101 (256, 512, 1024, 2048). mid_channels = 256: the authors' width when the
# teacher is a ResNet-50-class network (their ImageNet MobileNet <- ResNet-50 setting; 512 is
# theirs for R18 <- R34) and for FPN. λ = 3.0: chosen among 0.3, 1, 3 on the selection split of
# tools/benchmark_kd_gain.py with this distiller's CPU-sized twin (HCL is a mean squared error per
# level, so its scale does not grow with width or map size as a sum would); untested at full scale.
# The dilated ResNets (strides 1, 2, 1, 1; dilations 1, 1, 2, 4) put stages 2-4 all at stride 8
# (64x128 for a 512x1024 crop) and stage 1 at stride 4: the ABF upsampling between stages 4, 3
# and 2 is the identity, only stage 2 -> stage 1 doubles the size. configs/review/README.md.
_base_ = ['../_base_/distill/pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']

model = dict(
    distiller=dict(
        student_recorders=dict(stages=dict(type='ModuleOutputs', source='backbone')),
        teacher_recorders=dict(stages=dict(type='ModuleOutputs', source='backbone')),
        # Weight 3, kept at real scale. The CPU-sized twin (demo/) weighs 9, the choice of
        # tools/benchmark_kd_gain.py's pretrained regime (docs/benchmarks.md, "The weight grid").
        distill_losses=dict(
            loss_review=dict(
                type='ReviewKDLoss',
                student_channels=(64, 128, 256, 512),
                teacher_channels=(256, 512, 1024, 2048),
                mid_channels=256,
                loss_weight=3.0)),
        loss_forward_mappings=dict(
            loss_review=dict(
                student=dict(from_student=True, recorder='stages'),
                teacher=dict(from_student=False, recorder='stages')))))
