"""kdseg: feature distillation for dense prediction on OpenMMLab.

Importing kdseg applies the run-time fixes of :mod:`kdseg.compat` (the four that have no
extension point) and registers every kdseg component (losses, connectors, the distillers of
:mod:`kdseg.engine.distillers` and FRSKD in mmrazor's ``MODELS``, hooks in mmengine's ``HOOKS``),
so configs can name them. It changes no class of mmengine, mmrazor, mmdet or mmseg beyond those
fixes (tests/test_extend_not_patch.py). Where mmengine or
mmrazor is not installed it does none of this, so that the torch-only method packages
(``kdseg.models.losses.tat``) still import.
"""
import importlib.util

from .version import __version__

__all__ = ['__version__']

if all(importlib.util.find_spec(name) is not None for name in ('mmengine', 'mmrazor')):
    from . import compat, install_check

    install_check.check_mmcv_ops()
    compat.apply()

    from . import datasets, engine, models  # noqa: E402,F401  (registers components)

    __all__ += ['compat', 'datasets', 'engine', 'models']
