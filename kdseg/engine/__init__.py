"""What kdseg adds to mmengine's training: safety hooks, strict weight loading, strict
mmrazor distillers.

* :mod:`.hooks` - ``NaNGuardHook`` (stop at the first non-finite loss or weight, before a
  checkpoint), ``RNGStateHook`` (exact resume), ``ConfigCheckHook`` (num_classes and every
  distillation loss checked before iteration 1, errors naming the config key).
* :mod:`.weights` - :func:`load_weights`: a checkpoint fits the model exactly or fails, and a
  distiller checkpoint's ``architecture.``/``teacher.`` part can be taken.
* :mod:`.strict_distillers` - mmrazor's ``SingleTeacherDistill`` loads ``teacher_ckpt`` through
  :func:`load_weights`, and recorder errors say student or teacher.
* :mod:`.teacher_rng` - the teacher's forward draws from its own generator, so the student's
  random stream (dropout) is the one it has when trained alone.
"""
from . import strict_distillers, teacher_rng
from .hooks import (ConfigCheckHook, NaNGuardHook, NonFiniteTrainingError, RNGStateHook,
                    StudentInitHook)
from .weights import CheckpointMismatchError, load_weights

__all__ = [
    'CheckpointMismatchError', 'ConfigCheckHook', 'NaNGuardHook', 'NonFiniteTrainingError',
    'RNGStateHook', 'StudentInitHook', 'load_weights', 'strict_distillers', 'teacher_rng'
]
