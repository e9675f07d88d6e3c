# The demo student (pspnet_r18-narrow_synthcity.py) on 128x256 training crops: the student-alone
# arm of the TaT large-map row (docs/benchmarks.md); its C2 stage is 32x64.
_base_ = ['./pspnet_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

crops = Config.fromfile(
    '{{ fileDirname }}/../_base_/datasets/synthetic_cityscapes_crop128x256.py')
train_dataloader = dict(dataset=dict(pipeline=crops.train_pipeline))
data_preprocessor = dict(size=crops.crop_size)
model = dict(data_preprocessor=dict(size=crops.crop_size))
del Config, crops
