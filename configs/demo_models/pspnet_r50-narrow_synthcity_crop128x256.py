# The demo teacher (pspnet_r50-narrow_synthcity.py) on 128x256 training crops (whole images at
# scale 1): the teacher of the whole-image PSPNet regime (docs/benchmarks.md, "Whole images"),
# where the student alone varies least over seeds. Its training data is exactly that student's
# (./pspnet_r18-narrow_synthcity_crop128x256.py), as the 64x128 teacher's is the demo student's.
_base_ = ['./pspnet_r50-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

student = Config.fromfile('{{ fileDirname }}/pspnet_r18-narrow_synthcity_crop128x256.py')
train_dataloader = student.train_dataloader
data_preprocessor = student.data_preprocessor
model = dict(data_preprocessor=student.model.data_preprocessor)
del Config, student
