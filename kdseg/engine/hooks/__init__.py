"""mmengine hooks: the safety hooks tools/train.py adds to every run (kdseg.apis.add_safety_hooks),
StudentInitHook (``tools/train.py --student-init``) for paired comparisons, and
DistillWarmupHook (a linear warm-up of the distillation loss weights)."""
from .config_check_hook import ConfigCheckHook
from .distill_warmup_hook import DistillWarmupHook
from .nan_guard_hook import NaNGuardHook, NonFiniteTrainingError
from .rng_state_hook import RNGStateHook
from .student_init_hook import StudentInitHook

__all__ = [
    'ConfigCheckHook', 'DistillWarmupHook', 'NaNGuardHook', 'NonFiniteTrainingError',
    'RNGStateHook', 'StudentInitHook'
]
