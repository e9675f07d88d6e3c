# DIST (Huang et al., NeurIPS 2022, arXiv 2205.10536) of the demo PSPNet R50-narrow teacher into
# the R18-narrow student on the decode-head and auxiliary-head logits: the CPU-sized twin of
# configs/dist/dist_logits_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py, whose
# distiller it takes as it is (logits have the class count as channels at any width, and DIST's
# correlations do not grow with the map size, so the weights need no rescaling).
_base_ = ['../../_base_/distill/pspnet_r50-narrow_pspnet_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

dist = Config.fromfile(
    '{{ fileDirname }}/../dist_logits_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py')
model = dict(distiller=dist.model.distiller)
del Config, dist
