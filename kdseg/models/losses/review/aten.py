"""The private aten ops of the fused path, looked up by name in one place.

:class:`.abf.ABFFunction` and :mod:`.batch_norm` call torch's native kernels directly
(``native_batch_norm`` and its backward, ``convolution_backward``, ``upsample_nearest2d_backward``):
they are not public API, so a torch release may rename one or change its signature, and a device
backend may not implement one. Every such call goes through :func:`call`, which looks the op up with
:func:`aten_op` (the single lookup: a test replaces it to simulate a missing op) and turns a failed
lookup or a rejected call into :class:`FusedOpError` naming the op. :func:`.abf.fused_path_error`
runs the whole fused path once on tiny tensors per device and dtype, so that
:class:`~.loss.ReviewKDLoss` can fall back to the reference path before it touches any state.
"""
from typing import Any, Callable

import torch

__all__ = ['FUSED_OPS', 'FusedOpError', 'aten_op', 'call']

# every private op the fused path calls, for the error messages and the tests
FUSED_OPS = ('native_batch_norm', 'native_batch_norm_backward', 'convolution_backward',
             'upsample_nearest2d_backward')


class FusedOpError(RuntimeError):
    """A private aten op of the fused path is missing or rejected its call: ``op`` is its name,
    ``reason`` the original error as "Type: message"."""

    def __init__(self, op: str, error: BaseException) -> None:
        self.op, self.reason = op, f'{type(error).__name__}: {error}'
        super().__init__(f'torch.ops.aten.{op} failed in ReviewKDLoss\'s fused path: '
                         f'{self.reason}')


def aten_op(name: str) -> Callable[..., Any]:
    """``torch.ops.aten.<name>`` (AttributeError, or RuntimeError, when torch has no such op)."""
    return getattr(torch.ops.aten, name)


def call(name: str, *args: Any) -> Any:
    """``torch.ops.aten.<name>(*args)``; a missing op or a rejected call (AttributeError,
    RuntimeError, TypeError, NotImplementedError) raises :class:`FusedOpError`. Running out of
    memory is not the op's fault and propagates as it is."""
    try:
        op = aten_op(name)
    except (AttributeError, RuntimeError) as error:
        raise FusedOpError(name, error) from error
    try:
        return op(*args)
    except torch.OutOfMemoryError:
        raise
    except (RuntimeError, TypeError) as error:
        raise FusedOpError(name, error) from error
