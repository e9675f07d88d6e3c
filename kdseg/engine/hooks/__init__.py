"""mmengine hooks: the safety hooks tools/train.py adds to every run (kdseg.apis.add_safety_hooks),
and StudentInitHook (``tools/train.py --student-init``) for paired comparisons."""
from .config_check_hook import ConfigCheckHook
from .nan_guard_hook import NaNGuardHook, NonFiniteTrainingError
from .rng_state_hook import RNGStateHook
from .student_init_hook import StudentInitHook

__all__ = [
    'ConfigCheckHook', 'NaNGuardHook', 'NonFiniteTrainingError', 'RNGStateHook', 'StudentInitHook'
]
