"""A linear warm-up of the distillation loss weights."""
from typing import Dict, Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

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

    Args:
        warmup_iters: iterations to full weight (>= 1).
        losses: names in ``model.distiller.distill_losses`` to warm up; default every one.
    """

    priority = 'NORMAL'

    def __init__(self, warmup_iters: int, losses: Optional[list] = None) -> None:
        if not isinstance(warmup_iters, int) or warmup_iters < 1:
            raise ValueError(f'warmup_iters must be a positive int, got {warmup_iters!r}')
        self.warmup_iters = warmup_iters
        self.losses = losses
        self._full: Dict[str, float] = {}

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        distill_losses = getattr(getattr(model, 'distiller', None), 'distill_losses', None)
        if distill_losses is None:
            raise ValueError('DistillWarmupHook needs a distiller (model.distiller.distill_losses)'
                             f'; the model is a {type(model).__name__}')
        names = list(distill_losses) if self.losses is None else self.losses
        for name in names:
            loss = distill_losses[name] if name in distill_losses else None
            if loss is None or not hasattr(loss, 'loss_weight'):
                raise ValueError(f'DistillWarmupHook.losses: model.distiller.distill_losses.'
                                 f'{name} does not exist or has no loss_weight')
            self._full[name] = float(loss.loss_weight)
        self._losses = distill_losses

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        scale = min(1.0, (runner.iter + 1) / self.warmup_iters)
        for name, weight in self._full.items():
            self._losses[name].loss_weight = weight * scale
