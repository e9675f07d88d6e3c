# Demo student: Faster R-CNN R18-FPN at 1/4 width (ResNet stem/base 16), random init, on the
# synthetic COCO-format data; the FPN keeps the teacher's 64 channels, so FPN features can be
# distilled without a connector. Same data, runtime, optimiser and budget as the demo teacher.
_base_ = ['./faster-rcnn_r50-narrow_fpn_synthcoco.py']

model = dict(backbone=dict(depth=18), neck=dict(in_channels=[16, 32, 64, 128]))
