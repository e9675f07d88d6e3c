# TaT (Lin et al., CVPR 2022) of the demo Mask R-CNN R50-narrow teacher into the R18-narrow student
# on FPN P2-P6, the CPU-sized twin of configs/tat/tat_fpn_mask-rcnn_r101_mask-rcnn_r50_2x_coco.py:
# the Faster R-CNN demo twin's distiller (the same FPN widths), on the Mask R-CNN demo shell.
_base_ = ['../../_base_/distill/mask-rcnn_r50-narrow_mask-rcnn_r18-narrow_synthcoco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

faster = Config.fromfile('{{ fileDirname }}/tat_faster-rcnn_r50-narrow_r18-narrow_synthcoco.py')
model = dict(distiller=faster.model.distiller)
del Config, faster
