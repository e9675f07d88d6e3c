# CWT (channel-wise transformation, Liu et al., ICCV-W 2023, arXiv 2303.13212) on the FPN outputs
# P2-P5, Mask R-CNN R101-FPN -> R50-FPN on COCO (2x), the paper's instance segmentation setting
# (+2.8 mask mAP published for R50-FPN): the Faster R-CNN config's distiller
# (../_base_/distill/cwt_fpn_p2-p5.py) on Mask R-CNN, whose FPN feeds the mask head too.
_base_ = ['../_base_/distill/mask-rcnn_r101_mask-rcnn_r50_2x_coco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

cwt = Config.fromfile('{{ fileDirname }}/../_base_/distill/cwt_fpn_p2-p5.py')
model = dict(distiller=cwt.distiller)
del Config, cwt
