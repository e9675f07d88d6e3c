# Knowledge review (KR: Chen et al., CVPR 2021, arXiv 2104.09044) on the FPN outputs P2-P6, Faster
# R-CNN R101-FPN (mmdet's checkpoint) -> R50-FPN on COCO (2x). The authors' Faster R-CNN
# R101 -> R50 setting: ABF review path over P6 ... P2, mid_channels 256, HCL, λ = 1.0 (published:
# 37.93 -> 40.36 box AP on a Detectron2 1x-like 180k-iteration schedule, not this 2x one). The
# distiller is ../_base_/distill/review_fpn_p2-p6.py; configs/review/README.md.
_base_ = ['../_base_/distill/faster-rcnn_r101_faster-rcnn_r50_2x_coco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

review = Config.fromfile('{{ fileDirname }}/../_base_/distill/review_fpn_p2-p6.py')
model = dict(
    distiller=dict(
        review.distiller,
        distill_losses=dict(
            loss_review=dict(review.distiller.distill_losses.loss_review, loss_weight=1.0))))
del Config, review
