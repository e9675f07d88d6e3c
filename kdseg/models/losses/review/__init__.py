"""KR: knowledge distillation via knowledge review, ABF residual fusion plus HCL.

Chen et al., "Distilling Knowledge via Knowledge Review", CVPR 2021,
`arXiv 2104.09044 <https://arxiv.org/abs/2104.09044>`_; the reference is the authors' code
(dvlab-research/ReviewKD: ``ABF``, ``hcl``). The exact semantics are in the design notes
(METHODS.md, section 3).

The maths. The student's levels are reviewed deepest first: each level's feature goes through a
1×1 conv + BN to the review width, is fused with the deeper level's fused map (nearest-upsampled
to the exact size) by two independent sigmoid gates computed from their concatenation, and a
3×3 conv + BN maps the fused map to the teacher's channels. HCL compares that output with the
teacher feature on the full map and after 4×4, 2×2, 1×1 average pooling (weights 1/2, 1/4, 1/8
of the sizes used, normalised by their sum); the loss is λ times the sum over levels.

Files:

Two paths compute it (ARCHITECTURE.md, "Two paths in every method"), chosen by
``ReviewKDLoss(impl='auto'|'fused'|'reference')``: the reference formulation in plain autograd
and the fused one with a written-out backward; 'auto' takes the one measured faster on the
features' device (:func:`.loss.resolve_impl`).

* :mod:`.loss` - :class:`ReviewKDLoss`, the ``nn.Module`` a config names
  (``type='ReviewKDLoss'``): the levels, their ABFs, validation, the choice of path, the sum over
  levels.
* :mod:`.reference` - the reference formulation, one function per equation in the authors'
  structure, on the ABF modules themselves; what the tests and the benchmark compare against.
* :mod:`.abf` - :class:`.abf.ABF` (one level's parameters and init) and
  :class:`.abf.ABFFunction`, the level's fusion and HCL as one autograd node with a written-out
  backward that keeps three maps per level (the fused path).
* :mod:`.aten` - the private aten ops the fused path calls, looked up in one place, so that a
  missing or changed op sends the loss to the reference path with a warning.
* :mod:`.hcl` - HCL's pooling schedule (the reference's skip rule) and its value and gradient,
  with the three poolings as one pair of matmuls (their matrices cached per shape and device).
* :mod:`.batch_norm` - the ABFs' BatchNorms through torch's native kernels (running statistics
  as ``nn.BatchNorm2d``), and the output recomputed from the saved statistics.
* :mod:`.reductions` - per-channel and per-pixel dot products without full-size temporaries.

Everything here is plain torch: ``from kdseg.models.losses.review import ReviewKDLoss`` works
without mmcv, mmengine or mmrazor; :mod:`kdseg.models` registers it in mmrazor's ``MODELS``.
"""
from ....registry import declare_method
from .loss import ReviewKDLoss

__all__ = ['ReviewKDLoss']

METHOD = declare_method(
    'review', name='KR', paper='Chen et al., CVPR 2021, arXiv 2104.09044',
    gain_config='review/demo/review_pspnet_r50-narrow_r18-narrow_synthcity.py')
