"""mmrazor's own distillation losses that kdseg configures as baselines (configs/cwd/,
configs/pkd/): declared as methods, with no component of kdseg's, so the config tests and the
gain benchmark's default arms find them like kdseg's own methods."""
from ..registry import declare_method

CWD = declare_method(
    'cwd', name='CWD-logits', paper='Shu et al., ICCV 2021, arXiv 2011.13256 (mmrazor)',
    gain_config='cwd/demo/cwd_pspnet_r50-narrow_r18-narrow_synthcity.py', baseline=True)
PKD = declare_method(
    'pkd', name='PKD-C5', paper='Cao et al., NeurIPS 2022, arXiv 2207.02039 (mmrazor)',
    gain_config='pkd/demo/pkd_pspnet_r50-narrow_r18-narrow_synthcity.py', baseline=True)
