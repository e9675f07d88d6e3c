# Demo distillation shell: the CPU-sized Faster R-CNN R50-narrow teacher -> R18-narrow student on
# the synthetic COCO-format data (configs/demo_models/), the twin of the real-scale Faster R-CNN
# shell next to this file. Data, schedule and runtime are the student run's. FpnTeacherDistill runs
# only the teacher's backbone and neck (record `backbone.*` or `neck` of the teacher, never its
# heads); both FPNs have 64 channels. The distiller is empty: a method's demo twin
# (configs/{method}/demo/*_synthcoco.py) fills it.
_base_ = ['../../demo_models/faster-rcnn_r18-narrow_fpn_synthcoco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

teacher = Config.fromfile(
    '{{ fileDirname }}/../../demo_models/faster-rcnn_r50-narrow_fpn_synthcoco.py')
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='KDFpnTeacherDistill',
    architecture=_base_.model,  # carries _scope_='mmdet' from mmdet's model config
    teacher=teacher.model,
    # where `python tools/train.py configs/demo_models/faster-rcnn_r50-narrow_fpn_synthcoco.py`
    # saves its last checkpoint; the tests pass theirs with --cfg-options model.teacher_ckpt=...
    teacher_ckpt=f'work_dirs/faster-rcnn_r50-narrow_fpn_synthcoco/iter_{teacher.max_iters}.pth',
    distiller=dict(type='KDConfigurableDistiller'))
del Config, teacher

find_unused_parameters = True
# validates the student and, once, the teacher (its metrics are logged with a `teacher.` prefix)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
