# Demo student: Faster R-CNN R18-FPN at 1/4 width (ResNet stem/base 16), random init, on the
# synthetic COCO-format data; the FPN keeps the teacher's 64 channels, so FPN features can be
# distilled without a connector. Same data, runtime and optimiser as the demo teacher.
_base_ = ['./faster-rcnn_r50-narrow_fpn_synthcoco.py']

max_iters = 300  # change it with tools/train.py --iters N

model = dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=[16, 32, 64, 128]))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=_base_.warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False, begin=_base_.warmup_iters,
         end=max_iters)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
