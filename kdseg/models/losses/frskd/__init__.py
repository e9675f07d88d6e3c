"""FRSKD's two distillation losses: attention transfer over the levels and soft-label KD.

Ji et al., "Refine Myself by Teaching Myself: Feature Refinement via Self-Knowledge
Distillation", CVPR 2021, `arXiv 2103.08273 <https://arxiv.org/abs/2103.08273>`_; the reference is
the authors' code (MingiJi/FRSKD, ``segmentation/utils/distill.py``: ``Attention``,
``DistillKL``). The exact semantics are in the design notes (METHODS.md, section 4). In both
losses the self-teacher's side is the target: it is detached, so neither loss gives the
self-teacher a gradient.

Files:

* :mod:`.attention` - :class:`AttentionTransferLoss`: β · Σ_levels mean((a(F_i) − a(T_i))²) with
  a(F) the L2-normalised channel mean of F².
* :mod:`.soft_label` - :class:`SoftLabelKDLoss`: α · τ² · KL(softmax(t/τ) ‖ softmax(s/τ)) summed
  over classes and averaged over positions (pixels of a dense map, or RoIs).

Everything here is plain torch: ``from kdseg.models.losses.frskd import SoftLabelKDLoss`` works
without mmcv, mmengine or mmrazor; :mod:`kdseg.models` registers both in mmrazor's ``MODELS``.
"""
from ....registry import declare_method
from .attention import AttentionTransferLoss
from .soft_label import SoftLabelKDLoss

__all__ = ['AttentionTransferLoss', 'SoftLabelKDLoss']

METHOD = declare_method(
    'frskd', name='FRSKD', paper='Ji et al., CVPR 2021, arXiv 2103.08273',
    gain_config='frskd/demo/frskd_pspnet_r18-narrow_synthcity.py')
