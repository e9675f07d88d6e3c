# CWT (channel-wise transformation, Liu et al., ICCV-W 2023, arXiv 2303.13212) on the FPN outputs
# P2-P5, Faster R-CNN R101-FPN (mmdet's checkpoint) -> R50-FPN on COCO (2x); the paper reports
# +3.9 box mAP for R50-FPN (2x) from a stronger teacher. One channel MLP per level on the student,
# L2Loss(normalize=False) against the raw teacher, alpha = 5e-7 per level (MGD's Faster R-CNN
# weight); the distiller is ../_base_/distill/cwt_fpn_p2-p5.py.
_base_ = ['../_base_/distill/faster-rcnn_r101_faster-rcnn_r50_2x_coco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

cwt = Config.fromfile('{{ fileDirname }}/../_base_/distill/cwt_fpn_p2-p5.py')
model = dict(distiller=cwt.distiller)
del Config, cwt
