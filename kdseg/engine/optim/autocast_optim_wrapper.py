"""bfloat16 mixed precision on any device, CPU included: ``AutocastOptimWrapper``."""
from contextlib import contextmanager
from typing import Any, List, Optional, Sequence, Union

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from mmengine.runner.amp import autocast
from torch import nn

__all__ = ['AutocastOptimWrapper']


def _to_float32(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.dtype == torch.bfloat16:
        return value.float()
    if isinstance(value, (list, tuple)):
        return type(value)(_to_float32(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_float32(v) for k, v in value.items()}
    return value


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """mmengine's ``OptimWrapper`` whose forward runs under ``torch.autocast`` in bfloat16.

    mmengine's ``AmpOptimWrapper`` asserts a CUDA, NPU or MLU device (its float16 needs a loss
    scaler), so ``--amp`` could not run on a CPU. bfloat16 has float32's exponent range: no
    gradient underflows, so no loss scaler is needed and the step is the plain optimizer step.
    ``tools/train.py --amp`` uses this wrapper where CUDA is absent (CPU autocast supports
    bfloat16 only) and mmengine's ``AmpOptimWrapper`` (float16, dynamic loss scale) on CUDA.

    The parameters, gradients and optimizer state stay float32; autocast runs the ops it lists
    (convolutions, matmuls) in bfloat16. kdseg's losses that must run in float32 say so in their
    docstrings and cast their inputs up.

    Args:
        dtype: the autocast dtype, ``'bfloat16'`` (default) or a ``torch.dtype``.
        device_type: ``'cpu'`` (default), or ``'cuda'`` for bfloat16 autocast on a GPU.
        modules: ``None`` (default): the whole forward runs under autocast. Otherwise only the
            forward of the modules whose name ends with one of these (``('backbone', 'neck')``
            takes a detector's and a distiller's teacher's and student's backbones and necks),
            each output cast back to float32; the rest runs in float32. mmdet's detectors need
            this on the CPU: mmcv 2.1.0's CPU nms and RoIAlign kernels take float32 only.
        **kwargs: ``OptimWrapper``'s (``optimizer``, ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16', device_type: str = 'cpu',
                 modules: Optional[Sequence[str]] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(dtype, str):
            if dtype != 'bfloat16':
                raise ValueError(f'AutocastOptimWrapper dtype must be bfloat16 (no loss scaler '
                                 f'is used; float16 needs mmengine\'s AmpOptimWrapper), got '
                                 f'{dtype!r}')
            dtype = torch.bfloat16
        if dtype is not torch.bfloat16:
            raise ValueError(f'AutocastOptimWrapper dtype must be torch.bfloat16, got {dtype!r}')
        if device_type not in ('cpu', 'cuda'):
            raise ValueError(f'AutocastOptimWrapper device_type must be "cpu" or "cuda", got '
                             f'{device_type!r}')
        if modules is not None and (isinstance(modules, str) or not modules):
            raise ValueError('AutocastOptimWrapper modules must be None or a non-empty sequence '
                             f'of module-name endings, got {modules!r}')
        self.cast_dtype = dtype
        self.device_type = device_type
        self.modules = None if modules is None else tuple(modules)
        self._hooked: Optional[nn.Module] = None
        self._active = False  # the hooks act inside optim_context only (not in validation)

    def _hook(self, model: nn.Module) -> None:
        """Put the named modules' forward under autocast (once per model)."""
        if self._hooked is model:
            return
        names: List[str] = [n for n, _ in model.named_modules()
                            if n and n.split('.')[-1] in self.modules]
        if not names:
            raise ValueError(f'AutocastOptimWrapper modules={self.modules!r}: no module of '
                             f'{type(model).__name__} has such a name')
        for name in names:
            module = model.get_submodule(name)
            module.register_forward_pre_hook(self._enter, prepend=True)
            # first of the forward hooks: a distiller's recorder on this module (mmrazor's
            # ModuleOutputs) then records the float32 output the rest of the model sees
            module.register_forward_hook(self._leave, prepend=True)
        self._hooked = model

    def _enter(self, module: nn.Module, args: Any) -> None:
        context = torch.autocast(self.device_type, dtype=self.cast_dtype,
                                 enabled=self._active)
        context.__enter__()
        module.__dict__.setdefault('_kdseg_autocast', []).append(context)

    @staticmethod
    def _leave(module: nn.Module, args: Any, output: Any) -> Any:
        module.__dict__['_kdseg_autocast'].pop().__exit__(None, None, None)
        return _to_float32(output)

    @contextmanager
    def optim_context(self, model: nn.Module):
        if self.modules is None:
            with super().optim_context(model), autocast(device_type=self.device_type,
                                                        dtype=self.cast_dtype):
                yield
        else:
            self._hook(model.module if hasattr(model, 'module') else model)
            self._active = True
            try:
                with super().optim_context(model):
                    yield
            finally:
                self._active = False
