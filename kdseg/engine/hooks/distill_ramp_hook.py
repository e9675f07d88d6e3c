"""FRSKD's schedule for the distillation loss weights: off, then a sigmoid-shaped ramp."""
import math
from typing import Dict, Optional, Union

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from .loss_weights import check_nonnegative_int, find_loss_weights

__all__ = ['DistillRampHook']


@HOOKS.register_module()
class DistillRampHook(Hook):
    """Hold the distillation loss weights at ``0`` for ``begin_iter`` iterations, then ramp them
    to their configured values over ``ramp_iters`` iterations along FRSKD's sigmoid-shaped
    curve, in steps of ``step_iters`` iterations. At iteration ``i`` (``runner.iter``, 0-based)
    a loss configured with weight ``w`` gets ``w * scale(i)``, where (s = ``step_iters``)::

        scale(i) = 0                                  for i < begin_iter
        scale(i) = exp(-5 * (1 - t) ** 2)             for i >= begin_iter,
            k = (i - begin_iter) // s                 the step i is in (0, 1, ...)
            t = min((k + 1) * s, ramp_iters) / ramp_iters

    and ``scale(i) = 1`` from ``begin_iter`` on when ``ramp_iters == 0``. With ``s = 1`` (the
    default) the ramp moves every iteration, t = min(i + 1 − begin_iter, ramp_iters) /
    ramp_iters, and the weight reaches its configured value at iteration
    ``begin_iter + ramp_iters − 1``; with ``s > 1`` it holds each value for s iterations, the
    last step cut short at the end of the ramp if s does not divide ``ramp_iters``.

    Reference: Ji et al., "Refine Myself by Teaching Myself: Feature Refinement via
    Self-Knowledge Distillation" (FRSKD, CVPR 2021), MingiJi/FRSKD ``segmentation/main.py``,
    which scales the distillation terms by
    ``sigmoid_rampup(epoch + 1 - warmup, num_epochs - warmup)`` for the whole of each epoch
    from epoch ``warmup`` on. With E iterations per epoch that is ``begin_iter = warmup·E``,
    ``ramp_iters = (num_epochs − warmup)·E``, ``step_iters = E`` (k is then the epoch minus
    ``warmup``); ``step_iters = 'epoch'`` takes E from the training dataloader when training
    starts (``len(runner.train_dataloader)``: the iterations of one pass over the training set
    on each process, whatever the budget), and ``step_iters = 1`` is the same curve moved every
    iteration.

    Why: FRSKD's teacher is the network's own self-teacher branch, trained alongside it. Until
    that branch has learnt the task its refined features and predictions are no better than the
    student's, so it is first trained on the task alone; the distillation terms are then brought
    in gradually rather than all at once.

    The weight follows ``runner.iter``, so a resumed run continues exactly. The losses are found
    by :func:`~kdseg.engine.hooks.loss_weights.find_loss_weights`:
    ``model.distiller.distill_losses`` (mmrazor distillers) or ``model.distill_losses``
    (self-distillation algorithms; FRSKD's are ``loss_kd`` and ``loss_at``).

    Example (an 80k-iteration schedule, distillation off for the first two thirds)::

        custom_hooks = [dict(type='DistillRampHook', begin_iter=53333, ramp_iters=26667)]
        # the authors' per-epoch steps (Cityscapes at 8 images a step: 372 iterations an epoch)
        custom_hooks = [dict(type='DistillRampHook', begin_iter=53333, ramp_iters=26667,
                             step_iters='epoch')]

    Args:
        begin_iter: iterations with the weights at ``0`` (>= 0).
        ramp_iters: iterations of the ramp (>= 0; ``0`` switches straight to full weight).
        step_iters: iterations each value of the ramp is held for (an int >= 1), or
            ``'epoch'`` for one pass over the training data (the authors'), read from the
            runner's training dataloader in ``before_train``. Defaults to 1 (a new value every
            iteration).
        losses: names of the distillation losses to schedule; default every one.
    """

    priority = 'NORMAL'

    def __init__(self,
                 begin_iter: int,
                 ramp_iters: int,
                 step_iters: Union[int, str] = 1,
                 losses: Optional[list] = None) -> None:
        self.begin_iter = check_nonnegative_int('DistillRampHook', 'begin_iter', begin_iter)
        self.ramp_iters = check_nonnegative_int('DistillRampHook', 'ramp_iters', ramp_iters)
        if step_iters != 'epoch':
            step_iters = check_nonnegative_int('DistillRampHook', "step_iters (or 'epoch')",
                                               step_iters, minimum=1)
        self.step_iters = step_iters
        self.losses = losses
        self._full: Dict[str, float] = {}

    def scale(self, it: int) -> float:
        """The factor on the configured weights at iteration ``it`` (0-based); with
        ``step_iters='epoch'`` only after ``before_train`` has read the epoch's length."""
        if self.step_iters == 'epoch':
            raise RuntimeError("DistillRampHook(step_iters='epoch') knows the epoch's length "
                               'only once training starts (before_train)')
        if it < self.begin_iter:
            return 0.0
        if self.ramp_iters == 0:
            return 1.0
        step = (it - self.begin_iter) // self.step_iters
        t = min((step + 1) * self.step_iters, self.ramp_iters) / self.ramp_iters
        return math.exp(-5.0 * (1.0 - t)**2)

    def before_train(self, runner) -> None:
        if self.step_iters == 'epoch':
            self.step_iters = self._epoch_length(runner)
            runner.logger.info(f"DistillRampHook: step_iters='epoch' is {self.step_iters} "
                               'iterations (one pass over the training data)')
        self._losses, self._full, _ = find_loss_weights(runner.model, 'DistillRampHook',
                                                        self.losses)

    @staticmethod
    def _epoch_length(runner) -> int:
        """Iterations of one pass over the training data on this process."""
        try:
            length = len(runner.train_dataloader)
        except TypeError as err:  # a dataloader over an iterable dataset or sampler
            raise ValueError("DistillRampHook: step_iters='epoch' needs a training dataloader "
                             'with a length (train_dataloader.sampler); give step_iters as a '
                             'number of iterations instead') from err
        if length < 1:
            raise ValueError("DistillRampHook: step_iters='epoch' found an empty training "
                             'dataloader')
        return length

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        scale = self.scale(runner.iter)
        for name, weight in self._full.items():
            self._losses[name].loss_weight = weight * scale
