# FRSKD (Ji et al., CVPR 2021, arXiv 2103.08273) self-distillation of PSPNet R18-D8, Cityscapes
# 512x1024, 80k iterations, 4 GPUs x 2 images: everything but the model is mmseg's student config
# (74.87 mIoU trained alone). No teacher: a BiFPN self-teacher refines the four backbone stages
# (R18: 64, 128, 256, 512 channels; the dilated ResNet puts stages 2-4 all at stride 8, 64x128,
# and stage 1 at stride 4, so the self-teacher's resampling is the identity between stages 2-4);
# its head is the student's own decode head type, a PSPHead, on the refined stage 4 (width 2:
# 1024 channels). Settings are the authors' VOC segmentation ones: alpha = 1, beta = 50, tau = 1,
# pixel-wise KD at the label resolution, distillation off for the first 2/3 of training, then the
# exp(-5(1-t)^2) ramp. Cost: self-teacher 6.27 M + head 2.30 M parameters (the student: 12.9 M).
# configs/frskd/README.md.
_base_ = ['mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']

student = _base_.model  # carries _scope_='mmseg' from the mmseg:: base
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='FRSKD',
    architecture=student,
    self_teacher=dict(type='BiFPNSelfTeacher', in_channels=(64, 128, 256, 512), width=2, depth=2),
    # the student's decode head, on the refined last stage (2 x 512 channels)
    self_teacher_head=dict(student.decode_head, _scope_='mmseg', type='PSPHead', in_channels=1024),
    loss_kd=dict(type='SoftLabelKDLoss', temperature=1.0, loss_weight=1.0),
    loss_at=dict(type='AttentionTransferLoss', loss_weight=50.0))
del student

# alpha and beta are 0 for the first 2/3 of the 80k iterations, then ramp in (METHODS.md 4)
custom_hooks = [dict(type='DistillRampHook', begin_iter=53333, ramp_iters=26667)]
