"""mmrazor's teacher-student shell, made to fail early and say where.

mmrazor 1.0's ``SingleTeacherDistill`` (and ``FpnTeacherDistill``, its subclass) loads
``teacher_ckpt`` non-strictly, so a checkpoint of another model (a distiller's, say) trained
against a random teacher with only a warning; and a recorder whose ``source`` is not a module
dies on ``assert '"backbone.layer9" is not in the model.'`` without saying student or teacher.
:func:`apply` changes exactly these two steps, for every config that names these classes:

* ``teacher_ckpt`` is loaded by :func:`kdseg.engine.weights.load_weights`: the teacher's own
  checkpoint, or the ``teacher.*`` part of a distiller checkpoint, fitting key for key and shape
  for shape; anything else fails while the model is built, naming ``model.teacher_ckpt``.
* recorders are initialised one by one; a failure names
  ``model.distiller.{student,teacher}_recorders.<name>``, its source, the side, and the closest
  module names of that model.
"""
import difflib
from typing import Any

from torch import nn

from .weights import load_weights

__all__ = ['apply']


def _prepare_recorders(distiller: Any, model: nn.Module, side: str) -> None:
    """Initialise ``distiller.{side}_recorders`` on ``model``, naming the recorder that fails."""
    manager = getattr(distiller, f'{side}_recorders')
    owner = 'model.architecture' if side == 'student' else 'model.teacher'
    for name, recorder in manager.recorders.items():
        try:
            recorder.initialize(model)
        except Exception as err:
            source = getattr(recorder, 'source', None)
            close = difflib.get_close_matches(str(source), [n for n, _ in model.named_modules()],
                                              n=3, cutoff=0.5)
            hint = f' Closest {side} modules: {close}.' if close else ''
            raise ValueError(
                f'model.distiller.{side}_recorders.{name}: {type(recorder).__name__} with '
                f'source={source!r} cannot record the {side} ({owner}, '
                f'{type(model).__name__}): {err}.{hint}') from err


def apply() -> None:
    """Patch mmrazor's SingleTeacherDistill and ConfigurableDistiller (idempotent)."""
    from mmrazor.models.algorithms import SingleTeacherDistill
    from mmrazor.models.distillers import ConfigurableDistiller
    if getattr(SingleTeacherDistill.__init__, '_kdseg_strict', False):
        return
    original_init = SingleTeacherDistill.__init__

    def __init__(self, *args: Any, teacher_ckpt: Any = None, **kwargs: Any) -> None:
        original_init(self, *args, teacher_ckpt=None, **kwargs)
        if teacher_ckpt:
            load_weights(self.teacher, teacher_ckpt, prefixes=('teacher.',),
                         key='model.teacher_ckpt', what='the teacher (model.teacher)')
            self.teacher._is_init = True  # as mmrazor does: init_weights must not reset it

    __init__._kdseg_strict = True
    SingleTeacherDistill.__init__ = __init__
    ConfigurableDistiller.prepare_from_student = (
        lambda self, model: _prepare_recorders(self, model, 'student'))
    ConfigurableDistiller.prepare_from_teacher = (
        lambda self, model: _prepare_recorders(self, model, 'teacher'))
