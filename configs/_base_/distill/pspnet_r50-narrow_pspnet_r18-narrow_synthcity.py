# Demo distillation shell: the CPU-sized PSPNet R50-narrow teacher -> R18-narrow student on the
# synthetic Cityscapes data (configs/demo_models/), the twin of the real-scale PSPNet shell next to
# this file. Data, schedule and runtime are the student run's, so a distilled student is directly
# comparable with the student trained alone. The distiller is empty: a method's demo twin
# (configs/{method}/demo/*_synthcity.py) adds its recorders, losses and loss_forward_mappings.
_base_ = ['../../demo_models/pspnet_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

# The teacher's model dict comes from its own config, so a change there (width, depth, head)
# reaches every distillation without being copied here.
teacher = Config.fromfile('{{ fileDirname }}/../../demo_models/pspnet_r50-narrow_synthcity.py')
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='KDSingleTeacherDistill',
    architecture=_base_.model,  # carries _scope_='mmseg' from mmseg's model config
    teacher=teacher.model,
    # where `python tools/train.py configs/demo_models/pspnet_r50-narrow_synthcity.py` saves its
    # last checkpoint; tools/demo.py and the tests pass theirs with
    # --cfg-options model.teacher_ckpt=...
    teacher_ckpt=f'work_dirs/pspnet_r50-narrow_synthcity/iter_{teacher.max_iters}.pth',
    distiller=dict(type='KDConfigurableDistiller'))
del Config, teacher

find_unused_parameters = True
# validates the student and, once, the teacher (its metrics are logged with a `teacher.` prefix)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
