# FRSKD self-distillation of the demo Faster R-CNN R18-narrow student on the synthetic COCO-format
# data: the CPU-sized twin of ../frskd_fpn_faster-rcnn_r50_2x_coco.py, whose model it takes with
# the demo FPN's width (5 levels of 64 channels). Data, schedule and runtime are the student
# run's (configs/demo_models/faster-rcnn_r18-narrow_fpn_synthcoco.py), so FRSKD is directly
# comparable with the student trained alone; the ramp keeps the reference's proportions.
_base_ = ['../../demo_models/faster-rcnn_r18-narrow_fpn_synthcoco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

real = Config.fromfile('{{ fileDirname }}/../frskd_fpn_faster-rcnn_r50_2x_coco.py')
student = _base_.model
model = dict(
    real.model,
    _delete_=True,
    architecture=student,
    self_teacher=dict(real.model.self_teacher,
                      in_channels=(student.neck.out_channels, ) * student.neck.num_outs))
del Config, real, student

# as the real config: distillation off for the first 2/3 of the budget, then ramped in
custom_hooks = [dict(type='DistillRampHook', begin_iter=_base_.max_iters * 2 // 3,
                     ramp_iters=_base_.max_iters - _base_.max_iters * 2 // 3)]
