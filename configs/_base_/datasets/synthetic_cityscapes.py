# Synthetic Cityscapes-format data (kdseg.datasets), sized for CPU: 128x256 images instead of
# 1024x2048, so scales and crops are 1/8 of mmseg's Cityscapes pipeline; everything else
# (CityscapesDataset, 19 classes, IoUMetric) is mmseg's own.
_base_ = ['mmseg::_base_/datasets/cityscapes.py']

data_root = 'data/synthetic_cityscapes/'
scale = (256, 128)  # (w, h), like mmseg's (2048, 1024)
crop_size = (64, 128)  # (h, w); the models' data_preprocessor pads to this size
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    # annotations are loaded after Resize: metrics compare against the original-size labels
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]

# num_workers=0: on 2 cores, worker processes slow the step down (they compete with the model's
# threads) and the pipeline costs ~ms per 128x256 image.
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
