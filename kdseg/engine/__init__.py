"""What kdseg adds to mmengine's training: safety hooks, strict weight loading, and kdseg's own
mmrazor distillers.

* :mod:`.hooks` - ``NaNGuardHook`` (stop at the first non-finite loss, weight or buffer, before a
  checkpoint), ``RNGStateHook`` (exact resume), ``ConfigCheckHook`` (num_classes, finite weights
  and every distillation loss checked before iteration 1, errors naming the config key).
* :mod:`.weights` - :func:`load_weights`: a checkpoint fits the model exactly and is finite, or
  fails, and a distiller checkpoint's ``architecture.``/``teacher.`` part can be taken.
* :mod:`.distillers` - ``KDSingleTeacherDistill``/``KDFpnTeacherDistill`` (strict
  ``teacher_ckpt``, a teacher on its own random stream) and ``KDConfigurableDistiller`` (errors
  naming the config key): subclasses of mmrazor's, registered under their own names.
* :mod:`.optim` - ``AutocastOptimWrapper``: bfloat16 autocast without a loss scaler, the CPU
  side of ``--amp``.
* :mod:`.teacher_rng` - a module's forward that leaves the caller's random stream as it was.
* :mod:`.finite` - which tensors of a model or a checkpoint are not finite.
"""
from . import distillers, optim, teacher_rng
from .distillers import KDConfigurableDistiller, KDFpnTeacherDistill, KDSingleTeacherDistill
from .hooks import (ConfigCheckHook, NaNGuardHook, NonFiniteTrainingError, RNGStateHook,
                    StudentInitHook)
from .weights import CheckpointMismatchError, NonFiniteCheckpointError, load_weights

__all__ = [
    'CheckpointMismatchError', 'ConfigCheckHook', 'KDConfigurableDistiller',
    'KDFpnTeacherDistill', 'KDSingleTeacherDistill', 'NaNGuardHook', 'NonFiniteCheckpointError',
    'NonFiniteTrainingError', 'RNGStateHook', 'StudentInitHook', 'distillers', 'load_weights',
    'optim', 'teacher_rng'
]
