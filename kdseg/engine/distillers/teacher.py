"""mmrazor's teacher-student algorithms with a strictly loaded teacher that draws its own random
numbers: ``KDSingleTeacherDistill`` and ``KDFpnTeacherDistill``.

mmrazor 1.0's ``SingleTeacherDistill`` (and ``FpnTeacherDistill``, its subclass) loads
``teacher_ckpt`` non-strictly, so a checkpoint of another model (a distiller's, say) trained
against a random teacher with only a warning; and it runs the teacher on the student's torch
generator, so the teacher's dropout reshuffles every dropout mask of the student. These
subclasses, registered under their own names in mmrazor's ``MODELS``, change exactly that:

* ``teacher_ckpt`` is loaded by :func:`kdseg.engine.weights.load_weights`: the teacher's own
  checkpoint, or the ``teacher.*`` part of a distiller checkpoint, fitting key for key and shape
  for shape, every tensor finite; anything else fails while the model is built, naming
  ``model.teacher_ckpt``;
* the teacher's forward draws from its own generator (:func:`kdseg.engine.teacher_rng.isolate_rng`),
  so the student's random stream is the one it has when trained alone.

Everything else is mmrazor's. A config that names ``SingleTeacherDistill`` gets mmrazor's class,
unchanged; kdseg's configs name these.
"""
from typing import Any, Dict, Optional, Union

from mmengine.model import BaseModel
from mmrazor.models.algorithms import FpnTeacherDistill, SingleTeacherDistill
from mmrazor.registry import MODELS

from ..teacher_rng import isolate_rng
from ..weights import load_weights

__all__ = ['KDFpnTeacherDistill', 'KDSingleTeacherDistill', 'StrictTeacherMixin']


class StrictTeacherMixin:
    """Put before an mmrazor ``SingleTeacherDistill`` (sub)class in the bases: its
    ``teacher_ckpt`` loads strictly and its teacher draws its own random numbers."""

    def __init__(self, distiller: dict, teacher: Union[BaseModel, Dict],
                 teacher_ckpt: Optional[str] = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(distiller, teacher, None, *args, **kwargs)
        if teacher_ckpt:
            load_weights(self.teacher, teacher_ckpt, prefixes=('teacher.',),
                         key='model.teacher_ckpt', what='the teacher (model.teacher)')
            self.teacher._is_init = True  # as mmrazor does: init_weights must not reset it
        isolate_rng(self.teacher)


@MODELS.register_module()
class KDSingleTeacherDistill(StrictTeacherMixin, SingleTeacherDistill):
    """mmrazor's ``SingleTeacherDistill`` with a strict ``teacher_ckpt`` and a teacher on its own
    random stream (module docstring). Arguments as mmrazor's."""


@MODELS.register_module()
class KDFpnTeacherDistill(StrictTeacherMixin, FpnTeacherDistill):
    """mmrazor's ``FpnTeacherDistill`` (the teacher runs its backbone and neck only) with a
    strict ``teacher_ckpt`` and a teacher on its own random stream. Arguments as mmrazor's."""
