# TaT on FPN P2-P6: Faster R-CNN R101-FPN (mmdet 2x, 39.8 box AP) -> R50-FPN (38.4 alone), COCO 2x.
# No published TaT detection setting exists; the choices are justified in configs/tat/README.md.
_base_ = ['../_base_/distill/faster-rcnn_r101_faster-rcnn_r50_2x_coco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

tat = Config.fromfile('{{ fileDirname }}/../_base_/distill/tat_fpn_p2-p6.py')
model = dict(distiller=tat.distiller)
del Config, tat
