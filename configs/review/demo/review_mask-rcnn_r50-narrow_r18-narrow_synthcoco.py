# Knowledge review of the demo Mask R-CNN R50-narrow teacher into the R18-narrow student on FPN
# P2-P6, the CPU-sized twin of
# configs/review/review_fpn_mask-rcnn_r101_mask-rcnn_r50_2x_coco.py: its distiller
# (../../_base_/distill/review_fpn_p2-p6.py) at the demo FPNs' 64 channels, mid_channels scaled as
# the widths are (256 * 64 / 256 = 64), λ the real config's, 0.8: kept, since λ·L_review at
# iteration 1 is 6-7x the task loss, under the ~10x at which a twin lowers it (the Faster R-CNN
# twin, whose task loss has no mask term, does). Measured on the first 5 training batches of
# seed 0 (data/kd_gain_det, 256x192 images), freshly initialised student, the teacher's backbone
# and FPN (all FpnTeacherDistill runs) from the 1200-iteration demo Faster R-CNN teacher of
# tools/benchmark_kd_gain.py (same architecture): L_review 41.9 on batch 1 (35.6-42.6), so
# λ·L_review = 33.5 (28.5-34.1), against a task loss of 5.08 (4.45-5.64; RPN 0.69, RoI
# classification 1.64, boxes 0.08, masks 2.66).
_base_ = ['../../_base_/distill/mask-rcnn_r50-narrow_mask-rcnn_r18-narrow_synthcoco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

real = Config.fromfile(
    '{{ fileDirname }}/../review_fpn_mask-rcnn_r101_mask-rcnn_r50_2x_coco.py')
student_fpn = _base_.model.architecture.neck.out_channels  # 64 in the demo, 256 at full scale
teacher_fpn = _base_.model.teacher.neck.out_channels
model = dict(
    distiller=dict(
        real.model.distiller,
        distill_losses=dict(
            loss_review=dict(
                real.model.distiller.distill_losses.loss_review,
                student_channels=(student_fpn, ) * 5,
                teacher_channels=(teacher_fpn, ) * 5,
                mid_channels=64))))
del Config, real, student_fpn, teacher_fpn
