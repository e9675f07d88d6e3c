# Demo teacher: Mask R-CNN R50-FPN at 1/4 width (ResNet stem/base 16, FPN and heads 64 channels),
# random init, on the synthetic COCO-format data with polygon masks. The CPU-sized twin of mmdet's
# mask-rcnn_r50_fpn config, with the Faster R-CNN demo teacher's widths, budget and optimiser.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/datasets/synthetic_coco_instance.py',
    '../_base_/schedules/demo_mmdet.py',
]

from mmengine import Config  # mmengine allows exactly this import in a config file

narrow = Config.fromfile('{{ fileDirname }}/../_base_/models/rcnn_r50-narrow_fpn_synthcoco.py')
model = narrow.mask_rcnn
del Config, narrow
