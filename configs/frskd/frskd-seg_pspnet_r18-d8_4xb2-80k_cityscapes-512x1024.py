# FRSKD (Ji et al., CVPR 2021, arXiv 2103.08273) of PSPNet R18-D8, Cityscapes 512x1024, 80k
# iterations, 4 GPUs x 2 images, with the self-teacher design and schedule of the authors'
# SEGMENTATION code (MingiJi/FRSKD segmentation/; the sibling frskd_pspnet_* config uses their
# classification BiFPNc instead). The student and data are mmseg's (74.87 mIoU trained alone).
# * Self-teacher: two BiFPNSeg layers (plain-sum fusion, depthwise 1x1 conv + BN + ReLU nodes,
#   bilinear up / nearest down, the last layer top-down only) over the four backbone stages
#   (64, 128, 256, 512 channels; stages 2-4 share stride 8). The authors stack it on their
#   student's 64-channel neck; PSPNet has none, so 1x1 laterals bring stages 2-4 to the
#   stage-1 width of 64 (kdseg's adaptation; stage 1 enters as it is).
# * Its head: a copy of the student's head (a PSPHead) on the finest refined level (stride 4),
#   where the authors' head reads and where the last, top-down-only layer has gathered every
#   level. KD targets without the head's dropout (the authors' head has none).
# * alpha = 1, beta = 50, tau = 1 (published for this design); distillation off for the first
#   2/3, then the exp(-5(1-t)^2) ramp held per epoch (2975 images / 8 = 372 iterations), and
#   the learning rate x0.1 at the iteration distillation starts (theirs: 0.01 -> 0.001 at epoch
#   40 of 60), here on top of mmseg's poly schedule. configs/frskd/README.md.
_base_ = ['mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']

begin_iter = 53333  # 2/3 of 80k
student = _base_.model  # carries _scope_='mmseg' from the mmseg:: base
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='FRSKD',
    architecture=student,
    self_teacher=dict(type='BiFPNSegSelfTeacher', in_channels=(64, 128, 256, 512), channels=64,
                      num_layers=2),
    self_teacher_head=dict(student.decode_head, _scope_='mmseg', in_channels=64, in_index=0),
    self_teacher_dropout_in_targets=False,
    loss_kd=dict(type='SoftLabelKDLoss', temperature=1.0, loss_weight=1.0),
    loss_at=dict(type='AttentionTransferLoss', loss_weight=50.0))
del student

# mmseg's poly schedule, and x0.1 from the first distillation iteration on (mmengine chains the
# two: each step multiplies the current lr)
param_scheduler = [
    *_base_.param_scheduler,
    dict(type='MultiStepLR', milestones=[begin_iter], gamma=0.1, by_epoch=False)
]
custom_hooks = [
    dict(type='DistillRampHook', begin_iter=begin_iter, ramp_iters=80000 - begin_iter,
         step_iters='epoch')  # 2975 images / (4 GPUs x 2) = 372 iterations
]
