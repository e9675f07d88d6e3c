"""Optimizer wrappers: :class:`AutocastOptimWrapper` (bfloat16 mixed precision without a loss
scaler, the CPU side of ``tools/train.py --amp``)."""
from .autocast_optim_wrapper import AutocastOptimWrapper

__all__ = ['AutocastOptimWrapper']
