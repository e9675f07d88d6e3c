# Knowledge review of the demo Mask R-CNN R50-narrow teacher into the R18-narrow student on FPN
# P2-P6, the CPU-sized twin of configs/review/review_fpn_mask-rcnn_r101_mask-rcnn_r50_2x_coco.py:
# the distiller of the Faster R-CNN twin next to this file (64-channel FPNs, mid_channels 64) with
# the real Mask R-CNN config's λ, 0.8, which puts λ·L_review at iteration 1 at 6-7x the task loss.
# Measured on the first 5 training batches of seed 0 (data/kd_gain_det, 256x192 images), freshly
# initialised student, the teacher's backbone and FPN (all FpnTeacherDistill runs) from the
# 1200-iteration demo Faster R-CNN teacher of tools/benchmark_kd_gain.py (same architecture):
# L_review 41.9 on batch 1 (35.6-42.6), so λ·L_review = 33.5 (28.5-34.1), against a task loss of
# 5.08 (4.45-5.64; RPN 0.69, RoI classification 1.64, boxes 0.08, masks 2.66).
_base_ = ['../../_base_/distill/mask-rcnn_r50-narrow_mask-rcnn_r18-narrow_synthcoco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

faster = Config.fromfile(
    '{{ fileDirname }}/review_faster-rcnn_r50-narrow_r18-narrow_synthcoco.py')
real = Config.fromfile('{{ fileDirname }}/../review_fpn_mask-rcnn_r101_mask-rcnn_r50_2x_coco.py')
review = faster.model.distiller.distill_losses.loss_review
model = dict(
    distiller=dict(
        faster.model.distiller,
        distill_losses=dict(
            loss_review=dict(
                review, loss_weight=real.model.distiller.distill_losses.loss_review.loss_weight))))
del Config, faster, real, review
