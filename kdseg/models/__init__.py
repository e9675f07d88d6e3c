"""The thin registration layer: kdseg's torch-only components go into mmrazor's ``MODELS``.

The method packages under :mod:`kdseg.models.losses`, :mod:`kdseg.models.connectors` and
:mod:`kdseg.models.self_teachers` import with torch alone; only this module knows about the
registry, and only when mmrazor is installed (a torch-only import of ``kdseg.models.losses.tat``
passes through here). :mod:`kdseg.models.algorithms` (FRSKD) drives mmseg and mmdet models, so
it is imported only then too. The registered names are the public API that configs use
(``type='TaTLoss'``, ``type='ChannelMLPConnector'``, ``type='FRSKD'``).
"""
import importlib.util

from . import connectors, losses, self_teachers
from .connectors import ChannelMLPConnector
from .losses import AttentionTransferLoss, ReviewKDLoss, SoftLabelKDLoss, TaTLoss
from .self_teachers import BiFPNSelfTeacher

__all__ = ['connectors', 'losses', 'self_teachers', 'AttentionTransferLoss', 'BiFPNSelfTeacher',
           'ChannelMLPConnector', 'ReviewKDLoss', 'SoftLabelKDLoss', 'TaTLoss']

if importlib.util.find_spec('mmrazor') is not None:
    from mmrazor.registry import MODELS

    MODELS.register_module(module=TaTLoss)
    MODELS.register_module(module=ReviewKDLoss)
    MODELS.register_module(module=ChannelMLPConnector)
    MODELS.register_module(module=BiFPNSelfTeacher)
    MODELS.register_module(module=SoftLabelKDLoss)
    MODELS.register_module(module=AttentionTransferLoss)

    from .algorithms import FRSKD
    MODELS.register_module(module=FRSKD)
