# TaT on FPN P2-P6: Mask R-CNN R101-FPN (mmdet 2x, 40.8 box / 36.6 mask AP) -> R50-FPN
# (39.2 / 35.4 alone), COCO 2x.
# No published TaT detection setting exists; the choices are justified in configs/tat/README.md.
_base_ = ['../_base_/distill/mask-rcnn_r101_mask-rcnn_r50_2x_coco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

tat = Config.fromfile('{{ fileDirname }}/../_base_/distill/tat_fpn_p2-p6.py')
model = dict(distiller=tat.distiller)
del Config, tat
