# The synthetic Cityscapes data with 128x256 training crops (whole images at scale 1) instead of
# 64x128: the C2 stage (stride 4) of the demo ResNets is then 32x64, the map size at which TaT's
# patch-group / anchor hierarchy has what TaT-seg distils (docs/benchmarks.md, "TaT where its
# hierarchy matters"). Not a base to inherit next to a model (mmengine forbids a key in two
# bases): the large-crop configs read it with Config.fromfile and take its two keys.
_base_ = ['./synthetic_cityscapes.py']

crop_size = (128, 256)  # (h, w)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=_base_.scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
