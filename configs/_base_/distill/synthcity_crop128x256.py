# What the whole-image PSPNet regime (docs/benchmarks.md, "Whole images") changes in a demo twin
# (configs/{method}/demo/*_pspnet_r50-narrow_r18-narrow_synthcity.py): the data of the whole-image
# student (../../demo_models/pspnet_r18-narrow_synthcity_crop128x256.py) and the teacher trained on
# it (../../demo_models/pspnet_r50-narrow_synthcity_crop128x256.py). Not a config of its own: a
# twin's `_crop128x256` variant reads it with Config.fromfile and assigns
#     train_dataloader = whole.train_dataloader
#     data_preprocessor = whole.data_preprocessor  # the distiller's, and its student's
#     model = dict(whole.model_changes, distiller=...)
from mmengine import Config  # mmengine allows exactly this import in a config file

student = Config.fromfile(
    '{{ fileDirname }}/../../demo_models/pspnet_r18-narrow_synthcity_crop128x256.py')
teacher = Config.fromfile(
    '{{ fileDirname }}/../../demo_models/pspnet_r50-narrow_synthcity_crop128x256.py')
train_dataloader = student.train_dataloader
data_preprocessor = student.data_preprocessor
model_changes = dict(
    architecture=dict(data_preprocessor=student.model.data_preprocessor),
    teacher=teacher.model,
    teacher_ckpt=f'work_dirs/pspnet_r50-narrow_synthcity_crop128x256/iter_{teacher.max_iters}.pth')
del Config, student, teacher
