"""Is the installed mmcv one kdseg can run on? (a check, not a fix: it changes nothing)."""
import importlib.util
from typing import Any, Callable

__all__ = ['MMCV_OPS_FIX', 'check_mmcv_ops']

MMCV_OPS_FIX = ('pip uninstall -y mmcv-lite mmcv && '
                'MMCV_WITH_OPS=1 pip install --no-build-isolation "mmcv==2.1.0" '
                '(after torch; or run `make install`)')


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
