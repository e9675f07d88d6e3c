"""What one FRSKD training step hands the algorithm, whatever the task."""
from typing import Dict, NamedTuple, Tuple

from torch import Tensor

__all__ = ['FRSKDStep']


class FRSKDStep(NamedTuple):
    """The task-specific part of an FRSKD step (:mod:`.segmentor`, :mod:`.two_stage`).

    Attributes:
        student: the student's task losses, named as its model names them.
        self_teacher: the self-teacher's task losses, the same names.
        logits: (student, self-teacher) logits over the same positions, for soft-label KD:
            (B, K, H, W) each for segmentation, (N_RoI, K + 1) each for detection.
        features: (student levels, self-teacher levels), shallow to deep, for attention
            transfer: level i (B, c_i, H_i, W_i) and (B, d_i, H_i, W_i).
    """
    student: Dict[str, Tensor]
    self_teacher: Dict[str, Tensor]
    logits: Tuple[Tensor, Tensor]
    features: Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]
