# Knowledge review of the demo Faster R-CNN R50-narrow teacher into the R18-narrow student on FPN
# P2-P6, the CPU-sized twin of
# configs/review/review_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco.py: its distiller
# (../../_base_/distill/review_fpn_p2-p6.py) at the demo FPNs' 64 channels, mid_channels scaled as
# the widths are (256 * 64 / 256 = 64), and the real λ = 1.0: chosen among 0.2 and 1.0 on the
# selection split of tools/benchmark_kd_gain.py (box AP 18.2 and 19.1 over seeds 0-2, the student
# alone 16.4; configs/review/README.md), although it makes the distillation loss 16-20x the task
# loss at iteration 1 (the ABFs bring it down within tens of iterations). Measured on the first 5
# training batches of seed 0 (data/kd_gain_det, 256x192 images), freshly initialised student, the
# 1200-iteration demo teacher of tools/benchmark_kd_gain.py: L_review 42.0 on batch 1 (35.4-42.5;
# P2-P6 7.3, 14.9, 8.6, 5.4, 5.9: the trained teacher's raw FPN maps are large, the fresh ABF
# outputs BatchNorm-normalised), against a task loss of 2.15 (RPN 0.70, RoI classification 1.45,
# boxes 0.01); λ = 0.2 would give λ·L_review = 8.4, about 4x. With that teacher's 300-iteration
# checkpoint L_review is 45-61.
_base_ = ['../../_base_/distill/faster-rcnn_r50-narrow_faster-rcnn_r18-narrow_synthcoco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

real = Config.fromfile(
    '{{ fileDirname }}/../review_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco.py')
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
