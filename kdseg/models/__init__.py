"""The thin registration layer: kdseg's torch-only components go into mmrazor's ``MODELS``.

Every package under :mod:`kdseg.models.losses`, :mod:`kdseg.models.connectors` and
:mod:`kdseg.models.self_teachers` is imported here (a new method package is found without being
listed anywhere), which declares its method and registers its classes in kdseg's own registry
(:mod:`kdseg.registry`); where mmrazor is installed, every registered component is then copied
into mmrazor's ``MODELS`` under its name, the ``type`` configs use (``type='TaTLoss'``). A
torch-only import of a method package passes through here and stops before mmrazor.
:mod:`kdseg.models.algorithms` (FRSKD) drives mmseg and mmdet models and registers itself in
mmrazor's ``MODELS``; it is imported only where mmrazor is.
"""
import importlib
import importlib.util
import pkgutil

from ..registry import COMPONENTS
from . import baselines, connectors, losses, self_teachers

__all__ = ['baselines', 'connectors', 'import_method_packages', 'losses', 'self_teachers']


def import_method_packages() -> None:
    """Import every module under the method folders, so each registers what it defines."""
    for folder in (connectors, losses, self_teachers):
        for info in pkgutil.walk_packages(folder.__path__, prefix=folder.__name__ + '.'):
            importlib.import_module(info.name)


import_method_packages()

if importlib.util.find_spec('mmrazor') is not None:
    from mmrazor.registry import MODELS

    for component in COMPONENTS.values():
        MODELS.register_module(name=component.name, module=component.cls)

    from . import algorithms  # noqa: E402,F401  (registers FRSKD)

    __all__ += ['algorithms']
