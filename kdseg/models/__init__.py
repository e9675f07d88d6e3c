"""The thin registration layer: kdseg's torch-only components go into mmrazor's ``MODELS``.

The method packages under :mod:`kdseg.models.losses` import with torch alone; only this module
knows about the registry, and only when mmrazor is installed (a torch-only import of
``kdseg.models.losses.tat`` passes through here). The registered names are the public API that
configs use (``type='TaTLoss'``).
"""
import importlib.util

from . import losses
from .losses import TaTLoss

__all__ = ['losses', 'TaTLoss']

if importlib.util.find_spec('mmrazor') is not None:
    from mmrazor.registry import MODELS

    MODELS.register_module(module=TaTLoss)
