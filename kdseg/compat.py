"""Run-time fixes that let mmengine 0.10 / mmcv 2.1 / mmrazor 1.0 work on a modern torch.

kdseg extends the OpenMMLab stack through its extension points (registered subclasses, hooks,
config options; ARCHITECTURE.md). These four fixes are what has no extension point at all, and
nothing else is here. Each is one function, applied once by :func:`apply` when ``kdseg`` is
imported, and each names in :data:`CHECKED_AGAINST` the upstream release it was checked against
(:func:`check_versions` warns when another is installed):

* :func:`stub_mmrazor_quantization` - ``mmrazor.structures.quantization`` uses ``torch.ao``
  internals that torch 2.x renamed, which breaks ``import mmrazor.models``. Distillation does not
  need it, so it becomes an inert module whose members raise :class:`QuantizationUnavailable`.
* :func:`secure_checkpoint_loading` - checkpoints are untrusted input, whatever their source. For
  the duration of every ``CheckpointLoader.load_checkpoint`` call (the one function all of
  mmengine/mmdet/mmseg/mmrazor's checkpoint loading goes through: local paths, ``https://``,
  ``open-mmlab://``, ``torchvision://``, ``mmcls://``, ``pavi://``, ``s3://`` and any scheme
  registered later, including files found in the torch hub cache) ``torch.load`` is
  :func:`safe_torch_load`: ``weights_only=True`` with an allow-list of exactly the types mmengine
  writes (:data:`CHECKPOINT_ALLOWLIST`); anything else raises :class:`UnsafeCheckpointError`
  naming it. A failed download raises :class:`CheckpointDownloadError` naming the URL, the
  hub-cache file to put it at, and how to pass a local path instead.
* :func:`numpy_in1d_alias` - cityscapesscripts 2.3 (mmseg's CityscapesMetric) calls ``np.in1d``,
  which numpy 2.4 removed; ``np.isin`` is its documented successor.
* :func:`kdseg_config_prefix` - ``_base_ = ['kdseg::tat/xxx.py']`` in a config anywhere resolves
  to kdseg's configs (the checkout's ``configs/`` for an editable install, ``kdseg/.mim/configs``
  for a regular one); mmengine itself only knows OpenMMLab packages' prefixes.
"""
import contextlib
import importlib.metadata
import os
import pickle
import sys
import threading
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Tuple

import numpy as np
import torch

__all__ = [
    'CHECKED_AGAINST', 'CHECKPOINT_ALLOWLIST', 'CheckpointDownloadError', 'FIXES',
    'NotACheckpointError', 'QuantizationUnavailable', 'UnsafeCheckpointError', 'apply',
    'check_checkpoint_format', 'check_versions', 'safe_torch_load'
]


class QuantizationUnavailable(RuntimeError):
    """Raised when mmrazor quantization is used: kdseg stubs it out (it does not import on
    torch >= 2)."""


class UnsafeCheckpointError(pickle.UnpicklingError):
    """Raised when a checkpoint holds a pickled object outside :data:`CHECKPOINT_ALLOWLIST`."""


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


def _empty_bytes(*args: Any) -> bytes:
    """The one ``bytes(...)`` call a checkpoint may pickle: ``bytes()``, the empty byte string.

    Pickle protocol 2 (``torch.save``'s default) writes non-empty bytes as
    ``_codecs.encode(text, 'latin1')`` (allowed by torch) but empty bytes as ``bytes()``; numpy
    pickles an empty array's data that way, so an empty HistoryBuffer (``np.array([])``) needs
    it. ``bytes(n)`` would allocate n bytes, so only the no-argument form is accepted.
    """
    if args:
        raise pickle.UnpicklingError(f'bytes{args!r} is not allowed in a checkpoint; only bytes()')
    return b''


def _checkpoint_allowlist() -> List[Any]:
    """The globals mmengine 0.10 pickles into a checkpoint besides tensors and builtins."""
    from mmengine.logging.history_buffer import HistoryBuffer
    allowed = [
        HistoryBuffer,
        # pickle protocol 2 writes builtins as `__builtin__.x`; torch maps that to `builtins.x`
        (_history_buffer_getattr, 'builtins.getattr'),
        (_empty_bytes, 'builtins.bytes'),
        frozenset,  # like `set` (allowed by torch): an immutable container of loaded values
        # numpy scalars and arrays in message-hub state, the seed, metric values, RNG states
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

# The real loader, taken before :func:`secure_checkpoint_loading` swaps ``torch.load`` during a
# checkpoint load (``torch.load`` is ``torch.serialization.load``).
_TORCH_LOAD = torch.serialization.load


class NotACheckpointError(ValueError):
    """A file that is not a PyTorch checkpoint at all: empty, truncated, or other bytes."""


ZIP_MAGIC = b'PK\x03\x04'  # torch.save's format since torch 1.6
PICKLE_MAGIC = b'\x80'  # the legacy format: a pickle (protocol 2 or later) of a magic number


def _first_bytes(filename: Any, n: int = 4) -> Optional[bytes]:
    """The first ``n`` bytes of a path or a seekable file object (its position kept), or None
    when they cannot be read without consuming a stream."""
    if isinstance(filename, (str, os.PathLike)):
        if not os.path.isfile(filename):
            return None
        with open(filename, 'rb') as f:
            return f.read(n)
    if hasattr(filename, 'seekable') and filename.seekable():
        position = filename.tell()
        head = filename.read(n)
        filename.seek(position)
        return head
    return None


def check_checkpoint_format(filename: Any) -> None:
    """Raise :class:`NotACheckpointError` naming ``filename`` when it is empty or starts with
    neither torch.save's zip signature nor a pickle: a random-bytes file is not an unsafe
    checkpoint, it is not one."""
    head = _first_bytes(filename)
    if head is None:
        return
    if not head:
        raise NotACheckpointError(f'{filename!r} is empty (0 bytes): not a checkpoint. Was it '
                                  'written completely (disk full, a killed save)?')
    if not head.startswith((ZIP_MAGIC, PICKLE_MAGIC)):
        raise NotACheckpointError(
            f'{filename!r} is not a PyTorch checkpoint: it starts with {head!r}, neither the '
            f'zip signature of torch.save ({ZIP_MAGIC!r}) nor a pickle (legacy torch.save). '
            'Check the path (an image, a config, an HTML error page saved as .pth?).')


def safe_torch_load(filename: Any, map_location: Any = None) -> Any:
    """``torch.load`` with ``weights_only=True`` and kdseg's allow-list, with a clear refusal;
    a file that is no checkpoint at all (empty, other bytes, a truncated archive) raises
    :class:`NotACheckpointError` naming it."""
    if not CHECKPOINT_ALLOWLIST:
        CHECKPOINT_ALLOWLIST[:] = _checkpoint_allowlist()
    check_checkpoint_format(filename)
    try:
        with torch.serialization.safe_globals(CHECKPOINT_ALLOWLIST):
            return _TORCH_LOAD(filename, map_location=map_location, weights_only=True)
    except EOFError as err:
        raise NotACheckpointError(f'{filename!r} ends too early: a truncated checkpoint or not '
                                  f'one ({err})') from err
    except RuntimeError as err:
        if 'PytorchStreamReader' not in str(err):
            raise
        raise NotACheckpointError(f'{filename!r} is a damaged or truncated checkpoint (its zip '
                                  f'archive cannot be read: {err})') from err
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {filename!r}: it contains a pickled object outside '
            f"kdseg's allow-list (kdseg.compat.CHECKPOINT_ALLOWLIST), and checkpoints are loaded "
            f'with weights_only=True because unpickling can run arbitrary code. If you trust '
            f'this file, convert it to a plain state dict. Details: {err}') from err


def _forced_safe_load(f: Any, map_location: Any = None, *args: Any, **kwargs: Any) -> Any:
    """Stands in for ``torch.load`` while a checkpoint loads: always :func:`safe_torch_load`.

    ``pickle_module``, ``weights_only=False`` and any other argument a loader passes are ignored
    on purpose.
    """
    return safe_torch_load(f, map_location)


class _DownloadFailed(Exception):
    """A checkpoint download failed; carries what the user-facing message needs."""

    def __init__(self, url: str, cached_file: str, reason: BaseException) -> None:
        super().__init__(url, cached_file, reason)
        self.url, self.cached_file, self.reason = url, cached_file, reason


_TORCH_HUB_DOWNLOAD = torch.hub.download_url_to_file


def _download_or_explain(url: str, dst: str, *args: Any, **kwargs: Any) -> None:
    """``torch.hub.download_url_to_file`` that reports a failure with the URL and cache file."""
    try:
        _TORCH_HUB_DOWNLOAD(url, dst, *args, **kwargs)
    except OSError as err:  # urllib's URLError/HTTPError, refused or timed-out sockets, SSL
        raise _DownloadFailed(url, dst, err) from err


_swap_lock = threading.Lock()
_swap_depth = 0
_swapped_out: dict = {}


@contextlib.contextmanager
def _loading_checkpoint() -> Iterator[None]:
    """While inside, ``torch.load`` is :func:`_forced_safe_load` and downloads explain failures.

    Re-entrant and thread-safe: the first entry swaps, the last exit restores. While any
    checkpoint load is running, ``torch.load`` in every thread is the safe one, which can only
    make a load stricter, never looser.
    """
    global _swap_depth
    with _swap_lock:
        if _swap_depth == 0:
            _swapped_out.update(load=torch.load, serialization_load=torch.serialization.load,
                                download=torch.hub.download_url_to_file)
            torch.load = torch.serialization.load = _forced_safe_load
            torch.hub.download_url_to_file = _download_or_explain
        _swap_depth += 1
    try:
        yield
    finally:
        with _swap_lock:
            _swap_depth -= 1
            if _swap_depth == 0:
                torch.load = _swapped_out['load']
                torch.serialization.load = _swapped_out['serialization_load']
                torch.hub.download_url_to_file = _swapped_out['download']


class CheckpointDownloadError(OSError):
    """A checkpoint given by URL (or a name that maps to one) could not be downloaded."""


def _torchvision_hint(filename: str) -> str:
    """For ``torchvision://name``: the URL mmengine's own table gives for ``name``, if any."""
    import mmengine
    name = filename.split('://', 1)[1]
    table = os.path.join(mmengine.__path__[0], 'hub', 'torchvision_0.12.json')
    url = mmengine.load(table).get(name) if os.path.isfile(table) else None
    return f' ({filename} is {url})' if url else ''


def secure_checkpoint_loading() -> None:
    """Make every checkpoint load, from any source, unable to run code.

    The one choke point is ``mmengine.runner.checkpoint.CheckpointLoader.load_checkpoint``: every
    way mmengine, mmdet, mmseg and mmrazor load a checkpoint goes through it (``_load_checkpoint``,
    ``load_checkpoint``, ``Runner.load_checkpoint``/``resume``, a backbone's
    ``init_cfg=dict(type='Pretrained')``, mmrazor's ``teacher_ckpt``). It dispatches on the
    name's prefix to a scheme loader (local path, ``http(s)://``, ``open-mmlab://`` and
    ``openmmlab://`` (an URL, or a file under MMENGINE_HOME), ``torchvision://``/``modelzoo://``,
    ``mmcls://``, ``pavi://``, ``s3://``/``petrel://``, and any scheme registered later), and
    those loaders call plain ``torch.load`` or ``torch.hub.load_state_dict_from_url``
    (``weights_only=False``); the latter loads a file of the URL's name from the torch hub cache
    (``torch.hub.get_dir()/checkpoints``) without downloading anything.

    The wrapper swaps ``torch.load`` for :func:`safe_torch_load` (``weights_only=True`` with
    :data:`CHECKPOINT_ALLOWLIST`, whatever the caller asked for) for the duration of the call,
    so every scheme, present and future, loads safely; a refused object raises
    :class:`UnsafeCheckpointError` naming it. It also turns a failed download (no network) into
    :class:`CheckpointDownloadError` naming the URL, the hub-cache file to put it at, and the
    ``--cfg-options`` way to pass a local path instead, and a ``torchvision://`` name without
    torchvision installed into an ImportError that says so.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    CHECKPOINT_ALLOWLIST[:] = _checkpoint_allowlist()
    original = CheckpointLoader.__dict__['load_checkpoint'].__func__
    if getattr(original, '_kdseg_safe', False):
        return

    def load_checkpoint(cls: type, filename: str, map_location: Any = None,
                        logger: Any = 'current') -> Any:
        try:
            with _loading_checkpoint():
                return original(cls, filename, map_location, logger)
        except _DownloadFailed as err:
            via = '' if filename == err.url else f' (which {filename!r} maps to)'
            raise CheckpointDownloadError(
                f'Could not download checkpoint {err.url}{via}: {err.reason}. torch.hub looks '
                f'for it first at {err.cached_file}: download the URL on a machine with network '
                f'access and put the file there, or pass a local path instead, e.g. '
                f'`--cfg-options model.teacher_ckpt=/path/to/file.pth` (a distillation teacher) '
                f'or `load_from=/path/to/file.pth`; for a backbone `init_cfg` checkpoint, set '
                f'its `checkpoint` to the local path.') from err.reason
        except ModuleNotFoundError as err:
            if err.name != 'torchvision' or not filename.startswith(
                    ('torchvision://', 'modelzoo://')):
                raise
            raise ImportError(
                f'Checkpoint {filename!r} is a torchvision model name, and mmengine needs '
                f'torchvision installed to turn it into a download URL. Install the torchvision '
                f'that matches torch {torch.__version__}, or give the checkpoint as an URL or a '
                f'local path instead{_torchvision_hint(filename)}.') from err

    load_checkpoint._kdseg_safe = True
    CheckpointLoader.load_checkpoint = classmethod(load_checkpoint)


def numpy_in1d_alias() -> None:
    """Give numpy >= 2.4 back ``np.in1d`` as ``np.isin`` (same results for 1-D use)."""
    if not hasattr(np, 'in1d'):
        np.in1d = np.isin


def _kdseg_config_roots() -> List[Path]:
    """Where kdseg's configs are: ``kdseg/.mim/configs`` in an installed wheel (setup.py ships
    them there), the checkout's ``configs/`` for a source tree or an editable install."""
    package = Path(__file__).resolve().parent
    roots = [package / '.mim' / 'configs']
    if (package.parent / 'setup.py').is_file():  # only kdseg's own checkout, not site-packages
        roots.append(package.parent / 'configs')
    return roots


def kdseg_config_prefix() -> None:
    """Let a config anywhere inherit kdseg's configs: ``_base_ = ['kdseg::tat/xxx.py']``.

    mmengine resolves ``pkg::path`` in ``_base_`` (``Config._get_cfg_path``) only for packages in
    its own ``MODULE2PACKAGE`` table, only for paths with a ``/``, and only under
    ``get_installed_path(pkg)/.mim/configs``, which an editable install (``pip install -e .``,
    what ``make install`` does) points at a folder that does not exist. For the ``kdseg::``
    prefix the path is instead taken relative to kdseg's configs folder (see
    :func:`_kdseg_config_roots`), any path under it, so configs may move between folders. The
    scope is left unset, exactly as for a relative ``_base_`` inside ``configs/``: kdseg's configs
    name their own scopes (``default_scope``, ``_scope_``). Other prefixes go to mmengine.
    """
    from mmengine.config import Config
    original = Config.__dict__['_get_cfg_path'].__func__
    if getattr(original, '_kdseg_prefix', False):
        return

    def _get_cfg_path(cfg_path: str, filename: str) -> Tuple[str, Optional[str]]:
        package, sep, relative = cfg_path.partition('::')
        if not sep or package != 'kdseg':
            return original(cfg_path, filename)
        roots = _kdseg_config_roots()
        for root in roots:
            if (root / relative).is_file():
                return str(root / relative), None
        raise FileNotFoundError(
            f'{cfg_path!r} (in {filename}) is not a kdseg config: no {relative} under '
            f'{" or ".join(str(root) for root in roots)}.')

    _get_cfg_path._kdseg_prefix = True
    Config._get_cfg_path = staticmethod(_get_cfg_path)


# in the order apply() runs them; each is idempotent and can be called on its own
FIXES = ('stub_mmrazor_quantization', 'secure_checkpoint_loading', 'numpy_in1d_alias',
         'kdseg_config_prefix')

# The upstream releases each fix was written for and checked against (tests/test_compat.py and
# tests/test_extend_not_patch.py). A fix reaches into code that has no extension point, so a
# release that renames or reshapes it can turn the fix into a silent no-op: apply() warns when an
# installed version differs, naming what to check.
CHECKED_AGAINST = {
    'stub_mmrazor_quantization': {'mmrazor': '1.0.0'},
    'secure_checkpoint_loading': {'mmengine': '0.10.7'},
    'numpy_in1d_alias': {'cityscapesscripts': '2.3.0'},
    'kdseg_config_prefix': {'mmengine': '0.10.7'},
}
WHAT_TO_CHECK = {
    'stub_mmrazor_quantization': 'that `import mmrazor.models` still needs the stub',
    'secure_checkpoint_loading': 'that every checkpoint load still goes through '
                                 'CheckpointLoader.load_checkpoint and torch.load',
    'numpy_in1d_alias': 'whether CityscapesMetric still calls np.in1d',
    'kdseg_config_prefix': 'that Config._get_cfg_path still resolves `pkg::` bases',
}


def check_versions(version: Callable[[str], str] = importlib.metadata.version) -> List[str]:
    """Warn, once per fix, where an installed package differs from the release the fix was
    checked against (:data:`CHECKED_AGAINST`); returns the warnings' texts."""
    texts = []
    for fix, packages in CHECKED_AGAINST.items():
        for package, checked in packages.items():
            try:
                installed = version(package)
            except importlib.metadata.PackageNotFoundError:
                continue
            if installed.split('+')[0] != checked:
                texts.append(f'kdseg.compat.{fix} was checked against {package} {checked}; '
                             f'{package} {installed} is installed: check {WHAT_TO_CHECK[fix]} '
                             '(tests/test_compat.py).')
    for text in texts:
        warnings.warn(text, stacklevel=3)
    return texts


def apply() -> None:
    """Apply every fix in :data:`FIXES` (``import kdseg`` does this) and warn where the installed
    releases are not the ones the fixes were checked against; idempotent."""
    check_versions()
    for name in FIXES:
        globals()[name]()
