# PKD of the demo Faster R-CNN R50-narrow teacher into the R18-narrow student on FPN P2-P5 (both
# FPNs have 64 channels), the CPU-sized twin of
# configs/pkd/pkd_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco.py: the same distiller.
_base_ = ['../../_base_/distill/faster-rcnn_r50-narrow_faster-rcnn_r18-narrow_synthcoco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

pkd = Config.fromfile('{{ fileDirname }}/../../_base_/distill/pkd_fpn_p2-p5.py')
model = dict(distiller=pkd.distiller)
del Config, pkd
