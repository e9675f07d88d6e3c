"""kdseg: feature distillation for dense prediction on OpenMMLab.

Importing kdseg applies the run-time fixes of :mod:`kdseg.compat` and registers every kdseg
component in mmrazor's registries, so configs can name them.
"""
from . import compat

compat.apply()

from . import datasets, models  # noqa: E402,F401  (registers components)
from .version import __version__  # noqa: E402

__all__ = ['__version__', 'compat', 'datasets', 'models']
