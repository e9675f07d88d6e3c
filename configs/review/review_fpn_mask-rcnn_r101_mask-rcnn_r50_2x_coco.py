# Knowledge review (KR: Chen et al., CVPR 2021, arXiv 2104.09044) on the FPN outputs P2-P6, Mask
# R-CNN R101-FPN -> R50-FPN on COCO (2x): the Faster R-CNN config's distiller
# (../_base_/distill/review_fpn_p2-p6.py: mid_channels 256) with the authors' Mask R-CNN
# R101 -> R50 weight, λ = 0.8. The FPN feeds the mask head too, so the review distils both tasks.
_base_ = ['../_base_/distill/mask-rcnn_r101_mask-rcnn_r50_2x_coco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

review = Config.fromfile('{{ fileDirname }}/../_base_/distill/review_fpn_p2-p6.py')
model = dict(
    distiller=dict(
        review.distiller,
        distill_losses=dict(
            loss_review=dict(review.distiller.distill_losses.loss_review, loss_weight=0.8))))
del Config, review
