"""TaT: knowledge distillation via the target-aware transformer.

Lin et al., "Knowledge Distillation via the Target-aware Transformer", CVPR 2022,
`arXiv 2205.10793 <https://arxiv.org/abs/2205.10793>`_; the segmentation objective is the one of
the authors' TaT-seg code (``distiller_tat.py``), which kdseg calls the reference. The exact
semantics, and what kdseg generalises for dense prediction, are in the design notes (METHODS.md,
section 1).

The maths (paper eqs. 4-6 and sec. 3.3). Query ``Q = γ(S)`` and value ``V = φ(S)`` embed the
student feature S (C_s → C_t), key ``K = θ(T)`` the detached teacher feature T (C_t → C_t); each
embedding is a 1×1 convolution without bias followed by BatchNorm. Per head of channels, with
positions flattened row-major::

    A = softmax_j(Q Kᵀ)            (no 1/√D scaling, no temperature)
    O = A V
    L = mean((O − T)²)            against the RAW teacher feature T, not K

* patch-group distillation: the map is tiled into patches, runs of p raster-consecutive patches
  are stacked along channels into a group, and one (ph·pw) × (ph·pw) attention map per group is
  shared by its p patches; L_patch is the MSE over all patches;
* anchor-point distillation: Q, K, V and T are average-pooled to an anchor grid and one-to-all
  attention over the anchors gives L_anchor;
* per sample ℓ = β·L_patch + γ·L_anchor; the loss is α·mean over samples of ℓ.

Where kdseg differs from the reference, and where ``reference=True`` reproduces it (per-sample
BatchNorm statistics, floor tiling, the reference's heads when floor tiling yields more patches
than n×m, an error where the reference fails), is stated in :class:`TaTLoss`'s docstring.

Two code paths compute whichever semantics are chosen, picked by ``impl`` (which is not
``reference``: that one picks the semantics): the fused path (``impl='fused'``) and the reference
formulation (``impl='reference'``, :mod:`.reference`); ``impl='auto'`` (default) takes the fused
path on CPU and the reference formulation on CUDA and other devices (:func:`resolve_impl`, with
the measurements behind it). Flipping ``impl`` changes no value, gradient or running statistic
beyond rounding.

Numerics: the loss runs in its parameters' dtype, float32 under autocast too (the unscaled logits
need it). Fused path: squared errors are summed per row and then in float64; the fused BatchNorm
keeps x̂ for the channels whose γ is 0 or small against β; the attention drops weights below eps²
(a CPU speed fix for denormal floats that changes no output beyond its rounding).

Files:

* :mod:`.loss` - :class:`TaTLoss`, the ``nn.Module`` a config names (``type='TaTLoss'``): the
  arguments, their validation, the reference / kdseg semantics, padding masks, the choice of the
  code path (:func:`resolve_impl`), the fused path's anchor term.
* :mod:`.reference` - the reference formulation: the paper's equations in plain torch and
  autograd, on the loss's own modules; what ``impl='reference'`` runs, the benchmark times the
  fused path against, and the visualiser builds on.
* :mod:`.tiling` - the patch and anchor grids (floor tiling as the reference, cover tiling as
  kdseg's default) and the patch-group row order in which each group is one contiguous matrix.
* :mod:`.attention` - the grouped attention (groups of stacked patches, optionally split into
  heads) and its sum of squared errors with a written-out backward, fused with the embeddings'
  BatchNorm (:class:`.attention.EmbeddingNormAttention`), for the patch, anchor and plain terms.
* :mod:`.row_batch_norm` - BatchNorm on channel-last rows: per-sample or batch statistics, a
  validity mask, in place, with the running-statistics update of B sequential BatchNorm calls.
* :mod:`.query_attention` - the attention row of one query position, for the visualiser.

Everything here is plain torch: ``from kdseg.models.losses.tat import TaTLoss`` works on a machine
without mmcv, mmengine or mmrazor. The registration into mmrazor's ``MODELS`` is done by
:mod:`kdseg.models`.
"""
from ....registry import declare_method
from .loss import TaTLoss, resolve_impl

__all__ = ['TaTLoss', 'resolve_impl']

METHOD = declare_method(
    'tat', name='TaT', paper='Lin et al., CVPR 2022, arXiv 2205.10793',
    gain_config='tat/demo/tat_decoder_pspnet_r50-narrow_r18-narrow_synthcity.py')
