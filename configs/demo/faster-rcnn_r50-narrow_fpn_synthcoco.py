# Demo teacher: Faster R-CNN R50-FPN at 1/4 width (ResNet stem/base 16, FPN and heads 64 channels),
# random init, on the synthetic COCO-format data (~192x256 images). The CPU-sized twin of mmdet's
# faster-rcnn_r50_fpn config.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/synthetic_coco_detection.py',
    'mmdet::_base_/default_runtime.py',
]

# Budget. Change it with `tools/train.py ... --iters N`, which moves the loop, the validation and
# checkpoint intervals and the LR schedule (warm-up included) together.
max_iters = 300
warmup_iters = 50
# AdamW from random init (mmdet's SGD 0.02 assumes pretrained backbones). Measured: Faster R-CNN
# teacher, 300 it: lr 1e-3 -> 0.194 box mAP, 3e-3 -> 0.160.
lr = 1e-3

num_classes = len(_base_.classes)
fpn_channels = 64
model = dict(
    backbone=dict(
        stem_channels=16,
        base_channels=16,
        # from scratch: train every stage and the BN statistics (mmdet freezes them because its
        # backbones start from ImageNet weights)
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),  # no download: random init
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=fpn_channels),
    rpn_head=dict(
        in_channels=fpn_channels,
        feat_channels=fpn_channels,
        # images are ~1/5 of COCO's 800x1333, so anchors are halved: 16..256 px
        anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=fpn_channels),
        bbox_head=dict(
            in_channels=fpn_channels, fc_out_channels=256, num_classes=num_classes)),
    # fewer proposals and RoI samples: a few objects per small image
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False, begin=warmup_iters, end=max_iters)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters))
log_processor = dict(by_epoch=False, window_size=10)
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
