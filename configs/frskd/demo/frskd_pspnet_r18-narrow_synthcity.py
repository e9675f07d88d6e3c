# FRSKD self-distillation of the demo PSPNet R18-narrow student on the synthetic Cityscapes data:
# the CPU-sized twin of ../frskd_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py, whose model it
# takes with the channel counts of the 1/4-width ResNet (stages 16, 32, 64, 128; the
# self-teacher's head reads the refined last stage, 2 x 128 channels). Data, schedule and runtime
# are the student run's (configs/demo_models/pspnet_r18-narrow_synthcity.py), so FRSKD is directly
# comparable with the student trained alone; the ramp keeps the reference's proportions.
_base_ = ['../../demo_models/pspnet_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

real = Config.fromfile(
    '{{ fileDirname }}/../frskd_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py')
student = _base_.model
stages = tuple(student.decode_head.in_channels // 8 * k for k in (1, 2, 4, 8))  # 16 ... 128
model = dict(
    real.model,
    _delete_=True,
    architecture=student,
    self_teacher=dict(real.model.self_teacher, in_channels=stages),
    self_teacher_head=dict(student.decode_head, _scope_='mmseg', type='PSPHead',
                           in_channels=2 * stages[-1]))
del Config, real, student, stages

# as the real config: distillation off for the first 2/3 of the budget, then ramped in
custom_hooks = [dict(type='DistillRampHook', begin_iter=_base_.max_iters * 2 // 3,
                     ramp_iters=_base_.max_iters - _base_.max_iters * 2 // 3)]
