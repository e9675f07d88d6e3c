# The CPU-sized twin of ../frskd-seg_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py (FRSKD with
# the authors' segmentation self-teacher, BiFPNSeg): the demo PSPNet R18-narrow student on the
# synthetic Cityscapes data, stages (16, 32, 64, 128) refined at the stage-1 width of 16, the
# self-teacher's PSPHead on the finest refined level. Data, schedule and runtime are the student
# run's (configs/demo_models/pspnet_r18-narrow_synthcity.py), plus the real config's LR drop
# where distillation starts; the ramp keeps the real config's proportions and steps per epoch
# (step_iters='epoch': one pass over the training images, 200 / 4 = 50 iterations on the demo
# data, 400 / 4 = 100 in tools/benchmark_kd_gain.py, whatever --iters sets the budget to).
_base_ = ['../../demo_models/pspnet_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

real = Config.fromfile(
    '{{ fileDirname }}/../frskd-seg_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py')
student = _base_.model
stages = tuple(student.decode_head.in_channels // 8 * k for k in (1, 2, 4, 8))  # 16 ... 128
model = dict(
    real.model,
    _delete_=True,
    architecture=student,
    self_teacher=dict(real.model.self_teacher, in_channels=stages, channels=stages[0]),
    self_teacher_head=dict(student.decode_head, _scope_='mmseg', in_channels=stages[0],
                           in_index=0))
del Config, real, student, stages

begin_iter = _base_.max_iters * 2 // 3
param_scheduler = [
    *_base_.param_scheduler,
    dict(type='MultiStepLR', milestones=[begin_iter], gamma=0.1, by_epoch=False)
]
custom_hooks = [
    dict(type='DistillRampHook', begin_iter=begin_iter, ramp_iters=_base_.max_iters - begin_iter,
         step_iters='epoch')
]
