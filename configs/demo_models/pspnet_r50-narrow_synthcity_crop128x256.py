# The demo teacher (pspnet_r50-narrow_synthcity.py) on 128x256 training crops (whole images at
# scale 1): the teacher of the whole-image PSPNet regime (docs/benchmarks.md, "Whole images"),
# where the student alone (pspnet_r18-narrow_synthcity_crop128x256.py) varies least over seeds.
_base_ = ['./pspnet_r50-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

crops = Config.fromfile(
    '{{ fileDirname }}/../_base_/datasets/synthetic_cityscapes_crop128x256.py')
train_dataloader = dict(dataset=dict(pipeline=crops.train_pipeline))
data_preprocessor = dict(size=crops.crop_size)
model = dict(data_preprocessor=dict(size=crops.crop_size))
del Config, crops
