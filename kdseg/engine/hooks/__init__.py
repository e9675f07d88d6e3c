"""mmengine hooks that kdseg's tools/train.py adds to every run (kdseg.apis.add_safety_hooks)."""
from .config_check_hook import ConfigCheckHook
from .nan_guard_hook import NaNGuardHook, NonFiniteTrainingError
from .rng_state_hook import RNGStateHook

__all__ = ['ConfigCheckHook', 'NaNGuardHook', 'NonFiniteTrainingError', 'RNGStateHook']
