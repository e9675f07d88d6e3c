"""mmengine hooks: the safety hooks tools/train.py adds to every run
(kdseg.apis.cli.add_safety_hooks), StudentInitHook (``tools/train.py --student-init``) for
paired comparisons, and two schedules for the distillation loss weights: DistillWarmupHook (a
linear warm-up) and DistillRampHook (FRSKD's: off for ``begin_iter`` iterations, then a
sigmoid-shaped ramp). Both find the losses with :func:`.loss_weights.find_loss_weights`
(``model.distiller.distill_losses`` or ``model.distill_losses``). FeatureVisHook draws teacher
and student features of one image every N iterations (kdseg.apis.feature_vis, as
tools/visualize_features.py)."""
from .config_check_hook import ConfigCheckHook
from .distill_ramp_hook import DistillRampHook
from .distill_warmup_hook import DistillWarmupHook
from .feature_vis_hook import FeatureVisHook
from .nan_guard_hook import NaNGuardHook, NonFiniteTrainingError
from .rng_state_hook import RNGStateHook
from .student_init_hook import StudentInitHook

__all__ = [
    'ConfigCheckHook', 'DistillRampHook', 'DistillWarmupHook', 'FeatureVisHook', 'NaNGuardHook',
    'NonFiniteTrainingError', 'RNGStateHook', 'StudentInitHook'
]
