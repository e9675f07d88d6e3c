"""DIST: knowledge distillation from a stronger teacher through prediction relations.

Huang, You, Wang, Qian, Xu, "Knowledge Distillation from A Stronger Teacher", NeurIPS 2022,
`arXiv 2205.10536 <https://arxiv.org/abs/2205.10536>`_; the reference is the authors' code
(hunto/DIST_KD: ``segmentation/losses/dist_kd.py`` and ``segmentation/train_kd.py`` for
Cityscapes; hunto/MasKD ``mmrazor/configs/distill/dist/`` for COCO).

The maths. Student and teacher logits are turned into class probabilities (softmax at
temperature τ). The inter-class term asks each row (a pixel, a RoI, an image) of the student to
be linearly correlated with the teacher's row across the classes; the intra-class term asks each
class's column to be correlated across all the rows of the batch. Pearson correlation ignores
scale and offset, so the student matches the teacher's relations, not its exact probabilities:
the paper's remedy for a teacher much stronger than the student.

Files:

* :mod:`.loss` - :class:`DenseDISTLoss`: β · L_inter + γ · L_intra, times τ² and
  ``loss_weight``, on (N, C) or dense (B, C, H, W) logits (one row per pixel of the batch).

Everything here is plain torch: ``from kdseg.models.losses.dist import DenseDISTLoss`` works
without mmcv, mmengine or mmrazor. The name: mmrazor already registers a ``DISTLoss`` (its
classification port, whose intra-class term on dense logits correlates across the images of the
batch per pixel rather than across pixels per class), so kdseg's dense form is ``DenseDISTLoss``
(on (N, C) logits the two agree); see configs/dist/README.md.
"""
from ....registry import declare_method
from .loss import DenseDISTLoss

__all__ = ['DenseDISTLoss']

METHOD = declare_method(
    'dist', name='DIST', paper='Huang et al., NeurIPS 2022, arXiv 2205.10536',
    gain_config='dist/demo/dist_pspnet_r50-narrow_r18-narrow_synthcity.py')
