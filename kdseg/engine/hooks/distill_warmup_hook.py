"""A linear warm-up of the distillation loss weights."""
from typing import Dict, Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from .loss_weights import check_nonnegative_int, find_loss_weights

__all__ = ['DistillWarmupHook']


@HOOKS.register_module()
class DistillWarmupHook(Hook):
    """Ramp every distillation loss's ``loss_weight`` linearly from ``0`` to its configured
    value over the first ``warmup_iters`` iterations: at iteration ``i`` (0-based) the weight is
    ``w * min(1, (i + 1) / warmup_iters)``.

    Why: from a random student the distillation gradient can dwarf the task's at first (the TaT
    term put about 90x the decode loss's gradient on the demo student's last stage, falling off
    within ~130 iterations, because the classifier's small initialisation damps the task
    gradient). The weight follows ``runner.iter``, so a resumed run continues exactly.

    The losses are found by :func:`~kdseg.engine.hooks.loss_weights.find_loss_weights`:
    ``model.distiller.distill_losses`` (mmrazor distillers) or ``model.distill_losses``
    (self-distillation algorithms such as FRSKD).

    Args:
        warmup_iters: iterations to full weight (>= 1).
        losses: names of the distillation losses to warm up; default every one.
    """

    priority = 'NORMAL'

    def __init__(self, warmup_iters: int, losses: Optional[list] = None) -> None:
        self.warmup_iters = check_nonnegative_int('DistillWarmupHook', 'warmup_iters',
                                                  warmup_iters, minimum=1)
        self.losses = losses
        self._full: Dict[str, float] = {}

    def before_train(self, runner) -> None:
        self._losses, self._full, _ = find_loss_weights(runner.model, 'DistillWarmupHook',
                                                        self.losses)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        scale = min(1.0, (runner.iter + 1) / self.warmup_iters)
        for name, weight in self._full.items():
            self._losses[name].loss_weight = weight * scale
