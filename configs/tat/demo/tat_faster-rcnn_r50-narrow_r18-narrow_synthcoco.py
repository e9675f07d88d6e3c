# TaT (Lin et al., CVPR 2022) of the demo Faster R-CNN R50-narrow teacher into the R18-narrow
# student on FPN P2-P6, the CPU-sized twin of
# configs/tat/tat_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco.py: the same distiller
# (../../_base_/distill/tat_fpn_p2-p6.py) at the demo FPNs' 64 channels.
_base_ = ['../../_base_/distill/faster-rcnn_r50-narrow_faster-rcnn_r18-narrow_synthcoco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

tat = Config.fromfile('{{ fileDirname }}/../../_base_/distill/tat_fpn_p2-p6.py')
fpn_channels = _base_.model.architecture.neck.out_channels  # 64 in the demo, 256 at full scale
model = dict(
    distiller=dict(
        tat.distiller,
        distill_losses={
            name: dict(loss, student_channels=fpn_channels, teacher_channels=fpn_channels)
            for name, loss in tat.distiller.distill_losses.items()
        }))
del Config, tat, fpn_channels
