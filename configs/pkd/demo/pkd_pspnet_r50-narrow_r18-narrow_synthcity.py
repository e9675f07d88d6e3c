# PKD of the demo PSPNet R50-narrow teacher into the R18-narrow student on backbone C5: the
# CPU-sized twin of ../pkd_c5_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py, whose
# distiller it takes with the channel counts of the 1/4-width ResNets (C5: 128 -> 512).
_base_ = ['../../_base_/distill/pspnet_r50-narrow_pspnet_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

real = Config.fromfile(
    '{{ fileDirname }}/../pkd_c5_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py')
model = dict(
    distiller=dict(
        real.model.distiller,
        connectors=dict(
            c5_lift=dict(
                real.model.distiller.connectors.c5_lift,
                in_channel=_base_.model.architecture.decode_head.in_channels,
                out_channel=_base_.model.teacher.decode_head.in_channels))))
del Config, real
