# Demo teacher: Faster R-CNN R50-FPN at 1/4 width (ResNet stem/base 16, FPN and heads 64 channels),
# random init, on the synthetic COCO-format data (~192x256 images). The CPU-sized twin of mmdet's
# faster-rcnn_r50_fpn config. Budget 300 iterations, AdamW lr 1e-3 (the demo schedule's values;
# measured here: lr 1e-3 -> 0.194 box mAP after 300 it, 3e-3 -> 0.160).
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/synthetic_coco_detection.py',
    '../_base_/schedules/demo_mmdet.py',
]

from mmengine import Config  # mmengine allows exactly this import in a config file

# the widths and from-scratch settings, shared with the Mask R-CNN teacher
narrow = Config.fromfile('{{ fileDirname }}/../_base_/models/rcnn_r50-narrow_fpn_synthcoco.py')
model = narrow.faster_rcnn
del Config, narrow
