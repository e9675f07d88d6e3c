"""kdseg: feature distillation for dense prediction on OpenMMLab.

Importing kdseg applies the run-time fixes of :mod:`kdseg.compat`, makes mmrazor's distillers
strict (:mod:`kdseg.engine.strict_distillers`) and their teacher's random draws its own
(:mod:`kdseg.engine.teacher_rng`), and registers every kdseg component (losses in
mmrazor's ``MODELS``, hooks in mmengine's ``HOOKS``), so configs can name them. Where mmengine or
mmrazor is not installed it does none of this, so that the torch-only method packages
(``kdseg.models.losses.tat``) still import.
"""
import importlib.util

from .version import __version__

__all__ = ['__version__']

if all(importlib.util.find_spec(name) is not None for name in ('mmengine', 'mmrazor')):
    from . import compat

    compat.apply()

    from . import datasets, engine, models  # noqa: E402,F401  (registers components)

    engine.strict_distillers.apply()
    engine.teacher_rng.apply()

    __all__ += ['compat', 'datasets', 'engine', 'models']
