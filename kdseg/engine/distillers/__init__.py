"""kdseg's distillation algorithms and distiller: subclasses of mmrazor's, registered under their
own names in mmrazor's ``MODELS`` (kdseg's configs name them; mmrazor's classes stay as they are).

* :class:`KDSingleTeacherDistill`, :class:`KDFpnTeacherDistill` - a strictly loaded
  ``teacher_ckpt`` and a teacher on its own random stream;
* :class:`KDConfigurableDistiller` - recorder, mapping and loss errors that name the config key.
"""
from .configurable import KDConfigurableDistiller
from .teacher import KDFpnTeacherDistill, KDSingleTeacherDistill, StrictTeacherMixin

__all__ = [
    'KDConfigurableDistiller', 'KDFpnTeacherDistill', 'KDSingleTeacherDistill',
    'StrictTeacherMixin'
]
