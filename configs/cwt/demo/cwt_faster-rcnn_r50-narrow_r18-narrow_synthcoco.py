# CWT of the demo Faster R-CNN R50-narrow teacher into the R18-narrow student on FPN P2-P5, the
# CPU-sized twin of configs/cwt/cwt_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco.py: the same
# distiller (../../_base_/distill/cwt_fpn_p2-p5.py) at the demo FPNs' 64 channels. The loss
# weight is the real config's alpha, 5e-7 per level, kept because it already puts alpha * L_feat at
# iteration 1 on the order of the task loss. Measured on the first 5 training batches of seed 0
# (synthetic COCO, 256x192 images: P2 is 64 x 48 x 64 elements per sample), freshly initialised
# student, the 1200-iteration demo teacher of tools/benchmark_kd_gain.py: L_feat summed over P2-P5
# 2.60e6 on batch 1 (2.2e6-2.9e6; P2 64%, P3 31%), so alpha * L_feat = 1.30, against a task loss
# of 2.02 (RPN 0.70, RoI classification 1.30, boxes 0.03); with that teacher's 300-iteration
# checkpoint L_feat is 2.5e6.
_base_ = ['../../_base_/distill/faster-rcnn_r50-narrow_faster-rcnn_r18-narrow_synthcoco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

cwt = Config.fromfile('{{ fileDirname }}/../../_base_/distill/cwt_fpn_p2-p5.py')
student_fpn = _base_.model.architecture.neck.out_channels  # 64 in the demo, 256 at full scale
teacher_fpn = _base_.model.teacher.neck.out_channels
model = dict(
    distiller=dict(
        cwt.distiller,
        connectors={
            name: dict(connector, student_channels=student_fpn, teacher_channels=teacher_fpn)
            for name, connector in cwt.distiller.connectors.items()
        },
        distill_losses={
            name: dict(loss, loss_weight=5e-7)
            for name, loss in cwt.distiller.distill_losses.items()
        }))
del Config, cwt, student_fpn, teacher_fpn
