# PKD (./pkd_pspnet_r50-narrow_r18-narrow_synthcity.py, loss_pkd 18) on 128x256 training crops:
# the distilled arm of the whole-image PSPNet regime (docs/benchmarks.md, "Whole images"): the
# data of the whole-image student (configs/demo_models/pspnet_r18-narrow_synthcity_crop128x256.py)
# and a teacher trained on it (configs/demo_models/pspnet_r50-narrow_synthcity_crop128x256.py).
_base_ = ['./pkd_pspnet_r50-narrow_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

student = Config.fromfile(
    '{{ fileDirname }}/../../demo_models/pspnet_r18-narrow_synthcity_crop128x256.py')
teacher = Config.fromfile(
    '{{ fileDirname }}/../../demo_models/pspnet_r50-narrow_synthcity_crop128x256.py')
train_dataloader = student.train_dataloader
data_preprocessor = student.data_preprocessor  # the distiller's, and its student's:
model = dict(
    architecture=dict(data_preprocessor=student.model.data_preprocessor),
    teacher=teacher.model,
    teacher_ckpt='work_dirs/pspnet_r50-narrow_synthcity_crop128x256/'
    f'iter_{teacher.max_iters}.pth')
del Config, student, teacher
