# Knowledge review (./review_pspnet_r50-narrow_r18-narrow_synthcity.py) on 128x256 training crops:
# the control arm of TaT's large-map row (docs/benchmarks.md); same stages, and the lambda of 3
# that row was measured with (the demo twin's weight then; it is 9 now, the pretrained regime's).
_base_ = ['./review_pspnet_r50-narrow_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

crops = Config.fromfile(
    '{{ fileDirname }}/../../_base_/datasets/synthetic_cityscapes_crop128x256.py')
train_dataloader = dict(dataset=dict(pipeline=crops.train_pipeline))
data_preprocessor = dict(size=crops.crop_size)  # the distiller's, and its student's:
model = dict(architecture=dict(data_preprocessor=dict(size=crops.crop_size)),
             distiller=dict(distill_losses=dict(loss_review=dict(loss_weight=3.0))))
del Config, crops
