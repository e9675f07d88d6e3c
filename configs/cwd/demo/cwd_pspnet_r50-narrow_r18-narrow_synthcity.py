# Channel-wise distillation (CWD, Shu et al., ICCV 2021, arXiv 2011.13256) of the demo PSPNet
# R50-narrow teacher into the R18-narrow student on the decode-head logits, with mmrazor's
# ChannelWiseDivergence: the CPU-sized twin of
# configs/cwd/cwd_logits_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py, whose
# distiller it takes as it is (logits have the class count as channels at any width).
_base_ = ['../../_base_/distill/pspnet_r50-narrow_pspnet_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

cwd = Config.fromfile(
    '{{ fileDirname }}/../cwd_logits_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py')
model = dict(distiller=cwd.model.distiller)
del Config, cwd
