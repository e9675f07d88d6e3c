"""bfloat16 mixed precision on any device, CPU included: ``AutocastOptimWrapper``."""
from contextlib import contextmanager
from typing import Optional, Union

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from mmengine.runner.amp import autocast
from torch import nn

__all__ = ['AutocastOptimWrapper']


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
        **kwargs: ``OptimWrapper``'s (``optimizer``, ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16',
                 device_type: str = 'cpu', **kwargs) -> None:
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
        self.cast_dtype = dtype
        self.device_type = device_type

    @contextmanager
    def optim_context(self, model: nn.Module, _: Optional[object] = None):
        with super().optim_context(model), autocast(device_type=self.device_type,
                                                    dtype=self.cast_dtype):
            yield
