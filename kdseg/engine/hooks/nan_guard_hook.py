"""Stop training at the first non-finite loss or weight, before a poisoned checkpoint is saved."""
import math
from typing import Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

__all__ = ['NaNGuardHook', 'NonFiniteTrainingError']


class NonFiniteTrainingError(FloatingPointError):
    """A loss term or a parameter became NaN or infinite during training."""


@HOOKS.register_module()
class NaNGuardHook(Hook):
    """Raise :class:`NonFiniteTrainingError` when a logged loss term or a parameter is not finite.

    mmdet's ``CheckInvalidLossHook`` checks only the summed loss, with an ``assert`` that names no
    term, and not the weights: a step with a finite loss can still leave infinite weights (an
    overflowing update), which the next checkpoint would keep. This hook runs after every train
    iteration (every ``interval``), before ``CheckpointHook`` (whose priority is VERY_LOW), and
    checks every ``*loss*`` entry of the iteration's log variables (``decode.loss_ce``,
    ``distill.loss_tat_p4``, ...) and, after the optimizer step, every parameter. Raising there
    ends the run with a non-zero exit before anything of that iteration is saved, so the last
    checkpoint and ``last_checkpoint`` stay the last good ones.

    Under ``AmpOptimWrapper`` a non-finite loss is a normal event (the gradient scaler skips that
    step and lowers the scale), so only the parameters are checked there.

    Args:
        interval: check every ``interval`` iterations. Defaults to 1.
        check_params: also check the parameters. Defaults to True.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1, check_params: bool = True) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'NaNGuardHook interval must be a positive int, got {interval!r}')
        self.interval = interval
        self.check_params = check_params

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            return
        amp = type(runner.optim_wrapper).__name__ == 'AmpOptimWrapper'
        terms = {name: float(value.detach() if torch.is_tensor(value) else value)
                 for name, value in (outputs or {}).items() if 'loss' in name}
        bad_terms = {} if amp else {k: v for k, v in terms.items() if not math.isfinite(v)}
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        bad_param = self._first_non_finite_param(model) if self.check_params else None
        # every rank must stop together, or the others hang in the next all-reduce
        flag = torch.tensor(float(bool(bad_terms) or bad_param is not None))
        if get_world_size() > 1:
            all_reduce(flag)
        if not flag.item():
            return
        last = runner.message_hub.get_info('last_ckpt')
        saved = (f'the last checkpoint, {last}, is untouched' if last else
                 'no checkpoint was written')
        if bad_terms:
            terms = ', '.join(f'{k}={v}' for k, v in bad_terms.items())
            what = f'non-finite loss: {terms}'
        elif bad_param is not None:
            what = f'parameter {bad_param} is not finite after the optimizer step'
        else:
            what = 'another process saw a non-finite loss or parameter'
        raise NonFiniteTrainingError(
            f'Training stopped at iteration {runner.iter + 1}: {what}. Stopped before this '
            f'iteration is checkpointed; {saved}. Usual causes: a learning rate '
            '(optim_wrapper.optimizer.lr) or a loss_weight that is too large, or broken input.')

    @staticmethod
    def _first_non_finite_param(model: torch.nn.Module) -> Optional[str]:
        named = [(n, p) for n, p in model.named_parameters() if p.numel()]
        if not named:
            return None
        # one host sync for all parameters
        finite = torch.stack([torch.isfinite(p.detach()).all() for _, p in named])
        if bool(finite.all()):
            return None
        return named[int((~finite).nonzero()[0])][0]
