"""Self-teachers: networks trained with the student that refine its own features into targets.

FRSKD (Ji et al., "Refine Myself by Teaching Myself: Feature Refinement via Self-Knowledge
Distillation", CVPR 2021, `arXiv 2103.08273 <https://arxiv.org/abs/2103.08273>`_) has no external
teacher: a BiFPN over the student's multi-level features produces refined features (and, with its
own head, predictions) that the student then learns from. The authors wrote two self-teachers,
one per task (MingiJi/FRSKD): ``BiFPNc`` for classification and a ``BiFPNSeg`` stack for
segmentation; the exact semantics are in the design notes (METHODS.md, section 4).

Files:

* :mod:`.bifpn` - :class:`BiFPNSelfTeacher`, the one-layer BiFPN with width factor, separate
  top-down and bottom-up laterals and fast normalised fusion; the equations, the places where the
  reference and the design notes differ, and the parameter names against the reference's.
* :mod:`.bifpn_seg` - :class:`BiFPNSegSelfTeacher`, the authors' segmentation self-teacher: two
  ``BiFPNSeg`` layers (plain-sum fusion, depthwise 1×1 nodes, bilinear up / nearest down, the last
  layer top-down only) at one common width, with 1×1 laterals where the student's levels differ.
* :mod:`.blocks` - the building blocks: PW (1×1 conv, BN, ReLU), SEP (stacked depthwise-separable
  units), the fast normalised fusion node, and BiFPNSeg's DW1×1 (depthwise 1×1 conv, BN, ReLU).
* :mod:`.resample` - the size-aware resampling between levels (nearest interpolation top-down,
  "same" 3×3 stride-2 max pooling bottom-up, the identity between levels of equal size), which
  reduces to the reference's when every level halves the previous one; interpolation to a size
  with a given mode (BiFPNSeg's bilinear up and nearest down).

Everything here is plain torch: ``from kdseg.models.self_teachers import BiFPNSelfTeacher`` works
without mmcv, mmengine or mmrazor.
"""
from .bifpn import BiFPNSelfTeacher
from .bifpn_seg import BiFPNSegSelfTeacher

__all__ = ['BiFPNSelfTeacher', 'BiFPNSegSelfTeacher']
