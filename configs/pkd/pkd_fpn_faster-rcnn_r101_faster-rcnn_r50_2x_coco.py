# PKD (Cao et al., NeurIPS 2022, arXiv 2207.02039) on the FPN outputs, Faster R-CNN R101-FPN ->
# R50-FPN on COCO (2x), with mmrazor's PKDLoss. The same recipe as mmrazor's
# configs/distill/mmdet/pkd/pkd_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco.py (mmrazor reports
# 40.4 box AP), written on kdseg's real-scale shell.
_base_ = ['../_base_/distill/faster-rcnn_r101_faster-rcnn_r50_2x_coco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

pkd = Config.fromfile('{{ fileDirname }}/../_base_/distill/pkd_fpn_p2-p5.py')
model = dict(distiller=pkd.distiller)
del Config, pkd
