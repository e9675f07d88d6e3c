# CWT of the demo Mask R-CNN R50-narrow teacher into the R18-narrow student on FPN P2-P5, the
# CPU-sized twin of configs/cwt/cwt_fpn_mask-rcnn_r101_mask-rcnn_r50_2x_coco.py: the
# distiller of the Faster R-CNN twin next to this file (both demo FPNs have 64 channels). The loss
# weight is the real config's alpha, 5e-7 per level, kept because it already puts alpha * L_feat at
# iteration 1 on the order of the task loss. Measured on the first 5 training batches of seed 0
# (synthetic COCO, 256x192 images), freshly initialised student, the teacher's backbone and FPN
# (all FpnTeacherDistill runs) from the 1200-iteration demo Faster R-CNN teacher of
# tools/benchmark_kd_gain.py (same architecture): L_feat summed over P2-P5 2.64e6 on batch 1
# (2.3e6-2.9e6), so alpha * L_feat = 1.32, against a task loss of 3.81 (RPN 0.70, RoI
# classification 1.36, boxes 0.01, masks 1.75).
_base_ = ['../../_base_/distill/mask-rcnn_r50-narrow_mask-rcnn_r18-narrow_synthcoco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

faster = Config.fromfile('{{ fileDirname }}/cwt_faster-rcnn_r50-narrow_r18-narrow_synthcoco.py')
model = dict(distiller=faster.model.distiller)
del Config, faster
