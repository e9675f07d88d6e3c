"""kdseg: feature distillation for dense prediction on OpenMMLab.

Importing kdseg applies the run-time fixes of :mod:`kdseg.compat`, makes mmrazor's distillers
strict (:mod:`kdseg.engine.strict_distillers`), and registers every kdseg component (losses in
mmrazor's ``MODELS``, hooks in mmengine's ``HOOKS``), so configs can name them.
"""
from . import compat

compat.apply()

from . import datasets, engine, models  # noqa: E402,F401  (registers components)
from .version import __version__  # noqa: E402

engine.strict_distillers.apply()

__all__ = ['__version__', 'compat', 'datasets', 'engine', 'models']
