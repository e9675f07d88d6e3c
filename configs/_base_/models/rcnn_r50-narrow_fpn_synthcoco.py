# What makes mmdet's R50-FPN Faster and Mask R-CNN the CPU-sized demo detectors: 1/4 width
# (ResNet stem/base 16; FPN, RPN and RoI heads 64 channels), random init, trained from scratch, on
# the synthetic COCO-format data (~192x256 images). Not a config of its own: the demo teachers
# configs/demo_models/{faster,mask}-rcnn_r50-narrow_fpn_synthcoco.py read it with Config.fromfile
# and give `faster_rcnn` / `mask_rcnn` as their `model`, which mmengine merges into mmdet's model
# base like any override (the two bases differ in more than the mask branch, so each keeps its own).
_base_ = ['../datasets/synthetic_coco_detection.py']

num_classes = len(_base_.classes)
fpn_channels = 64
faster_rcnn = dict(
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
# Mask R-CNN: the same, and the mask branch at the same width
mask_rcnn = dict(
    faster_rcnn,
    roi_head=dict(
        faster_rcnn['roi_head'],
        mask_roi_extractor=dict(out_channels=fpn_channels),
        mask_head=dict(
            in_channels=fpn_channels, conv_out_channels=fpn_channels, num_classes=num_classes)))
