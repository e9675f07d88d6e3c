"""Algorithms mmrazor's shells cannot express: FRSKD's self-distillation (:mod:`.frskd`).

Unlike the method packages under :mod:`kdseg.models.losses`, this is OpenMMLab glue: it drives
mmseg segmentors and mmdet detectors, so it needs mmrazor, mmseg and mmdet; :mod:`kdseg.models`
imports it only where mmrazor is installed.
"""
from .frskd import FRSKD

__all__ = ['FRSKD']
