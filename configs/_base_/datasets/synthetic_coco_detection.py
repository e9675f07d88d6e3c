# Synthetic COCO-format detection data (kdseg.datasets): about 192x256 images of a few shape
# classes. Inherits mmdet's coco_detection and changes the root, the classes and the scale.
_base_ = ['mmdet::_base_/datasets/coco_detection.py']

data_root = 'data/synthetic_coco/'
# The ONE place the synthetic class names are written (kdseg.datasets.SYNTHETIC_COCO_CLASSES must
# match; tests/test_configs checks it). Model configs take num_classes = len(classes).
classes = ('rectangle', 'ellipse', 'triangle')
metainfo = dict(classes=classes)
scale = (256, 192)  # (w, h), in place of mmdet's (1333, 800)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]

# Iteration-based demo schedules: an infinite sampler; all images share one aspect ratio, so
# mmdet's AspectRatioBatchSampler has nothing to group. num_workers=0 is fastest on 2 cores.
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
