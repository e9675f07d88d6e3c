"""Run-time fixes that let mmengine 0.10 / mmcv 2.1 / mmrazor 1.0 work on a modern torch.

Each fix is one function, applied once by :func:`apply` when ``kdseg`` is imported:

* :func:`check_mmcv_ops` - mmdet and mmseg need mmcv's compiled ops (RoIAlign, nms, ...); an
  mmcv without them (mmcv-lite, or a build without ``MMCV_WITH_OPS=1``) fails with the fix named.
* :func:`stub_mmrazor_quantization` - ``mmrazor.structures.quantization`` uses ``torch.ao``
  internals that torch 2.x renamed, which breaks ``import mmrazor.models``. Distillation does not
  need it, so it becomes an inert module whose members raise :class:`QuantizationUnavailable`.
* :func:`secure_checkpoint_loading` - checkpoints are untrusted input. They load with
  ``weights_only=True`` and an explicit allow-list of exactly the types mmengine writes
  (:data:`CHECKPOINT_ALLOWLIST`); anything else is refused with a message naming the type.
* :func:`cpu_safe_pytorch_launcher` - mmengine's ``pytorch`` launcher calls
  ``torch.cuda.set_device`` unconditionally; without CUDA it now initialises the process group
  directly (with ``gloo`` when ``nccl`` was asked for).
* :func:`numpy_in1d_alias` - cityscapesscripts 2.3 (mmseg's CityscapesMetric) calls ``np.in1d``,
  which numpy 2.4 removed; ``np.isin`` is its documented successor.
"""
import importlib.util
import os
import pickle
import sys
import types
import warnings
from typing import Any, Callable, List

import numpy as np
import torch

__all__ = [
    'CHECKPOINT_ALLOWLIST', 'QuantizationUnavailable', 'UnsafeCheckpointError', 'apply',
    'check_mmcv_ops', 'safe_torch_load'
]

MMCV_OPS_FIX = ('pip uninstall -y mmcv-lite mmcv && '
                'MMCV_WITH_OPS=1 pip install --no-build-isolation "mmcv==2.1.0" '
                '(after torch; or run `make install`)')


class QuantizationUnavailable(RuntimeError):
    """Raised when mmrazor quantization is used: kdseg stubs it out (it does not import on
    torch >= 2)."""


class UnsafeCheckpointError(pickle.UnpicklingError):
    """Raised when a checkpoint holds a pickled object outside :data:`CHECKPOINT_ALLOWLIST`."""


def check_mmcv_ops(find_spec: Callable[[str], Any] = importlib.util.find_spec) -> None:
    """Raise ImportError naming the fix if mmcv has no compiled ops (``mmcv._ext``)."""
    if find_spec('mmcv') is None:
        raise ImportError(f'kdseg needs mmcv 2.1.0 with compiled ops; mmcv is not installed. '
                          f'Fix: {MMCV_OPS_FIX}')
    if find_spec('mmcv._ext') is None:
        raise ImportError(
            'kdseg needs mmcv with compiled ops (mmcv._ext, used by mmdet RoIAlign/nms and '
            'mmseg heads), but the installed mmcv has none (mmcv-lite, or built without '
            f'MMCV_WITH_OPS=1). Fix: {MMCV_OPS_FIX}')


class _UnavailableQuantization:
    """Stands in for every member of ``mmrazor.structures.quantization``."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _fail(self, *args: Any, **kwargs: Any) -> None:
        raise QuantizationUnavailable(
            f'mmrazor quantization ({self._name}) is unavailable: it relies on torch.ao '
            f'internals that torch {torch.__version__} no longer has, so kdseg disables it. '
            'kdseg supports distillation only.')

    __call__ = __getitem__ = _fail

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith('__'):
            raise AttributeError(attr)
        self._fail()


def stub_mmrazor_quantization() -> None:
    """Install an inert ``mmrazor.structures.quantization`` before mmrazor imports the real one."""
    name = 'mmrazor.structures.quantization'
    if name in sys.modules:
        return
    stub = types.ModuleType(name, 'kdseg stub: mmrazor quantization is unavailable.')
    stub.__all__ = []

    def __getattr__(attr: str) -> Any:
        if attr.startswith('__'):
            raise AttributeError(attr)
        return _UnavailableQuantization(attr)

    stub.__getattr__ = __getattr__
    sys.modules[name] = stub


def _history_buffer_getattr(owner: Any, name: str) -> Any:
    """The one ``getattr`` a checkpoint may pickle: a HistoryBuffer statistics method.

    mmengine's HistoryBuffer keeps ``{'mean': HistoryBuffer.mean, ...}`` per instance, which pickle
    writes as ``getattr(HistoryBuffer, 'mean')``. A general ``getattr`` would let a crafted file
    walk from any allowed object to ``builtins``; this one reaches nothing else.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    # the built-in statistics are registered on the class only when a first instance is made
    allowed = {'min', 'max', 'current', 'mean', *HistoryBuffer._statistics_methods}
    if owner is HistoryBuffer and name in allowed:
        return getattr(owner, name)
    raise pickle.UnpicklingError(f'getattr({owner!r}, {name!r}) is not allowed in a checkpoint')


def _checkpoint_allowlist() -> List[Any]:
    """The globals mmengine 0.10 pickles into a checkpoint besides tensors and builtins."""
    from mmengine.logging.history_buffer import HistoryBuffer
    allowed = [
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
        (_history_buffer_getattr, '__builtin__.getattr'),
        # numpy scalars and arrays in message-hub state, the seed, metric values
        np.ndarray,
        np.dtype,
    ]
    # numpy 2 pickles these as numpy._core.multiarray.*, numpy 1 as numpy.core.multiarray.*
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    for name in ('scalar', '_reconstruct'):
        func = getattr(multiarray, name)
        allowed += [(func, f'numpy._core.multiarray.{name}'),
                    (func, f'numpy.core.multiarray.{name}')]
    # numpy >= 1.25 pickles dtypes as instances of their per-type classes (np.dtypes.Float64DType)
    allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith('DType')]
    return allowed


CHECKPOINT_ALLOWLIST: List[Any] = []


def safe_torch_load(filename: Any, map_location: Any = None) -> Any:
    """``torch.load`` with ``weights_only=True`` and kdseg's allow-list, with a clear refusal."""
    try:
        with torch.serialization.safe_globals(CHECKPOINT_ALLOWLIST):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {filename!r}: it contains a pickled object outside '
            f"kdseg's allow-list (kdseg.compat.CHECKPOINT_ALLOWLIST), and checkpoints are loaded "
            f'with weights_only=True because unpickling can run arbitrary code. If you trust '
            f'this file, convert it to a plain state dict. Details: {err}') from err


def secure_checkpoint_loading() -> None:
    """Route mmengine's local-file checkpoint loader through :func:`safe_torch_load`."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CHECKPOINT_ALLOWLIST[:] = _checkpoint_allowlist()

    def load_from_local(filename: str, map_location: Any = None) -> Any:
        filename = os.path.expanduser(filename)
        if not os.path.isfile(filename):
            raise FileNotFoundError(f'{filename} can not be found.')
        return safe_torch_load(filename, map_location)

    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)


def cpu_safe_pytorch_launcher() -> None:
    """Let ``--launcher pytorch`` (torchrun) initialise on a machine without CUDA."""
    import mmengine.dist.utils as dist_utils
    original = dist_utils._init_dist_pytorch
    if getattr(original, '_kdseg_cpu_safe', False):
        return

    def init_dist_pytorch(backend: str, init_backend: str = 'torch', **kwargs: Any) -> None:
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            warnings.warn('CUDA is not available: using the gloo backend instead of nccl.')
            backend = 'gloo'
        torch.distributed.init_process_group(
            backend=backend, rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']), **kwargs)

    init_dist_pytorch._kdseg_cpu_safe = True
    dist_utils._init_dist_pytorch = init_dist_pytorch


def numpy_in1d_alias() -> None:
    """Give numpy >= 2.4 back ``np.in1d`` as ``np.isin`` (same results for 1-D use)."""
    if not hasattr(np, 'in1d'):
        np.in1d = np.isin


def apply() -> None:
    """Apply every fix; idempotent."""
    check_mmcv_ops()
    stub_mmrazor_quantization()
    secure_checkpoint_loading()
    cpu_safe_pytorch_launcher()
    numpy_in1d_alias()
