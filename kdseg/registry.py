"""kdseg's own small registry of methods and their components (plain Python: torch-only imports
of a method package pass through it).

A method package declares itself once and decorates the classes a config may name::

    # kdseg/models/losses/dist/loss.py
    @register('dist')
    class DenseDISTLoss(nn.Module): ...

    # kdseg/models/losses/dist/__init__.py
    from .loss import DenseDISTLoss
    declare_method('dist', name='DIST', paper='Huang et al., NeurIPS 2022',
                   gain_config='dist/demo/dist_pspnet_r50-narrow_r18-narrow_synthcity.py')

:mod:`kdseg.models` imports every method package under ``kdseg/models`` and copies
:data:`COMPONENTS` into mmrazor's ``MODELS``; the tests, the gain benchmark's default arms and the
README's method table check are derived from :data:`METHODS` and :data:`COMPONENTS`. Adding a
method is its package, its configs (``configs/<key>/``, demo twins in ``configs/<key>/demo/``)
with their README, and its tests; no list elsewhere is kept by hand.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, TypeVar

__all__ = ['COMPONENTS', 'METHODS', 'Component', 'Method', 'components_of', 'declare_method',
           'register']

T = TypeVar('T', bound=type)


@dataclass(frozen=True)
class Method:
    """A distillation method: ``key`` is its folder name under ``configs/`` (and its package's
    under ``kdseg/models/losses/`` where it has one), ``name`` how tables and the README call it,
    ``gain_config`` its PSPNet demo twin that ``tools/benchmark_kd_gain.py`` runs by default
    (relative to ``configs/``), ``baseline`` True for mmrazor's own methods kdseg only configures
    (no component of kdseg's)."""

    key: str
    name: str
    paper: str
    gain_config: Optional[str] = None
    baseline: bool = False


@dataclass(frozen=True)
class Component:
    """A class a config names with ``type=<name>``, and the method it belongs to."""

    name: str
    cls: type
    method: str


METHODS: Dict[str, Method] = {}
COMPONENTS: Dict[str, Component] = {}


def declare_method(key: str, name: str, paper: str, gain_config: Optional[str] = None,
                   baseline: bool = False) -> Method:
    """Declare a method (once; a second declaration of ``key`` must be identical)."""
    method = Method(key, name, paper, gain_config, baseline)
    if METHODS.setdefault(key, method) != method:
        raise ValueError(f'method {key!r} is declared twice, differently: {METHODS[key]} and '
                         f'{method}')
    return method


def register(method: str, name: Optional[str] = None) -> Callable[[T], T]:
    """Class decorator: record the class as a component of ``method`` under ``name`` (default:
    the class name), the ``type`` a config gives."""

    def decorator(cls: T) -> T:
        key = name or cls.__name__
        found = COMPONENTS.setdefault(key, Component(key, cls, method))
        if found.cls is not cls:
            raise ValueError(f'{key!r} is already registered by kdseg for {found.cls!r}')
        return cls

    return decorator


def components_of(method: str) -> List[Component]:
    """The registered components of ``method``, in registration order."""
    return [c for c in COMPONENTS.values() if c.method == method]
