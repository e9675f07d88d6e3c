"""Stop training at the first non-finite loss, weight or buffer, before a poisoned checkpoint is
saved."""
import math
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch import Tensor, nn

from ..finite import NonFiniteTrainingError, check_finite, part_of

__all__ = ['NaNGuardHook', 'NonFiniteTrainingError']


@HOOKS.register_module()
class NaNGuardHook(Hook):
    """Raise :class:`NonFiniteTrainingError` when a logged loss term, a parameter or a buffer is
    not finite, and say which parameter grew most before it.

    mmdet's ``CheckInvalidLossHook`` checks only the summed loss, with an ``assert`` that names no
    term, and not the weights: a step with a finite loss can still leave infinite weights (an
    overflowing update), which the next checkpoint would keep. This hook

    * before iteration 1, checks every parameter and buffer of the model (a distiller's teacher
      included): a NaN in a loaded BatchNorm ``running_mean`` otherwise trains to the end;
    * after every train iteration (every ``interval``), before ``CheckpointHook`` (whose priority
      is VERY_LOW), checks every ``*loss*`` entry of the iteration's log variables
      (``decode.loss_ce``, ``distill.loss_tat_p4``, ...), every trainable parameter after the
      optimizer step and the buffers of the modules in training mode (BatchNorm statistics).
      Raising there ends the run with a non-zero exit before anything of that iteration is saved,
      so the last checkpoint and ``last_checkpoint`` stay the last good ones.

    A learning rate far too large can leave weights finite and useless (|w| ≈ 1e11) in the
    checkpoints before the first NaN. So each check also records the norm of every trainable
    parameter (one norm per tensor, one host sync), and the error says which parameter grew most
    since the previous check and since the start of the run, and by how much: a checkpoint saved
    after such growth holds weights not worth resuming from.

    Under ``AmpOptimWrapper`` a non-finite loss is a normal event (the gradient scaler skips that
    step and lowers the scale), so only the weights are checked there.

    Args:
        interval: check every ``interval`` iterations. Defaults to 1.
        check_params: also check parameters and buffers. Defaults to True.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1, check_params: bool = True) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'NaNGuardHook interval must be a positive int, got {interval!r}')
        self.interval = interval
        self.check_params = check_params
        self._start: Optional[Tuple[int, Dict[str, float]]] = None  # (iteration, norms)
        self._previous: Optional[Tuple[int, Dict[str, float]]] = None

    def before_train(self, runner) -> None:
        if not self.check_params:
            return
        model = self._unwrap(runner)
        check_finite(model, f'Before training iteration {runner.iter + 1}')
        names, norms = self._norms(self._trainable(model))
        self._start = self._previous = (runner.iter, dict(zip(names, norms.tolist())))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            return
        amp = type(runner.optim_wrapper).__name__ == 'AmpOptimWrapper'
        terms = {name: float(value.detach() if torch.is_tensor(value) else value)
                 for name, value in (outputs or {}).items() if 'loss' in name}
        bad_terms = {} if amp else {k: v for k, v in terms.items() if not math.isfinite(v)}
        bad_tensor, overflow, norms = None, False, {}
        if self.check_params:
            model = self._unwrap(runner)
            watched = dict(self._trainable(model) + self._live_buffers(model))
            names, values = self._norms(list(watched.items()))
            finite = torch.isfinite(values)
            if not bool(finite.all()):  # a NaN or inf element makes its tensor's norm non-finite
                bad_tensor = names[int((~finite).nonzero()[0])]
                overflow = bool(torch.isfinite(watched[bad_tensor]).all())
            norms = dict(zip(names, values.tolist()))
        # every rank must stop together, or the others hang in the next all-reduce
        flag = torch.tensor(float(bool(bad_terms) or bad_tensor is not None))
        if get_world_size() > 1:
            all_reduce(flag)
        if not flag.item():
            if self.check_params:
                self._previous = (runner.iter + 1, norms)
            return
        last = runner.message_hub.get_info('last_ckpt')
        saved = (f'the last checkpoint, {last}, is untouched' if last else
                 'no checkpoint was written')
        if bad_terms:
            terms = ', '.join(f'{k}={v}' for k, v in bad_terms.items())
            what = f'non-finite loss: {terms}'
        elif bad_tensor is not None:
            what = (f'{bad_tensor} of {part_of(bad_tensor)} ' +
                    ('has an L2 norm beyond the float32 range' if overflow else 'is not finite') +
                    ' after the optimizer step')
        else:
            what = 'another process saw a non-finite loss, parameter or buffer'
        raise NonFiniteTrainingError(
            f'Training stopped at iteration {runner.iter + 1}: {what}. Stopped before this '
            f'iteration is checkpointed; {saved}.{self._growth(runner.iter + 1, norms)} Usual '
            'causes: a learning rate (optim_wrapper.optimizer.lr) or a loss_weight that is too '
            'large, or broken input.')

    @staticmethod
    def _unwrap(runner) -> nn.Module:
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    @staticmethod
    def _trainable(model: nn.Module) -> List[Tuple[str, Tensor]]:
        return [(n, p) for n, p in model.named_parameters() if p.requires_grad]

    @staticmethod
    def _live_buffers(model: nn.Module) -> List[Tuple[str, Tensor]]:
        """Floating-point buffers of modules in training mode: the ones a step can change (a
        frozen teacher in eval mode keeps its statistics; they were checked before training)."""
        return [(f'{prefix}.{n}' if prefix else n, b)
                for prefix, module in model.named_modules() if module.training
                for n, b in module.named_buffers(recurse=False) if b.is_floating_point()]

    @staticmethod
    def _norms(named: List[Tuple[str, Tensor]]) -> Tuple[List[str], Tensor]:
        """The names and, on the CPU, the float32 L2 norms of the non-empty tensors of
        ``named``."""
        named = [(n, t) for n, t in named if t.numel()]
        if not named:
            return [], torch.zeros(0)
        norms = torch.stack([torch.linalg.vector_norm(t.detach(), dtype=torch.float32)
                             .to(named[0][1].device) for _, t in named])
        return [n for n, _ in named], norms.cpu()

    def _growth(self, now: int, norms: Dict[str, float]) -> str:
        """Which parameter grew most since the previous check, and since the start of the run
        up to that check: what the checkpoints saved in between hold."""
        if self._previous is None:
            return ''
        sentences = []
        previous_iter, previous = self._previous
        most = _largest_growth(previous, norms)
        if most:
            sentences.append(f'Largest parameter growth since the previous check (iteration '
                             f'{previous_iter}) to iteration {now}: {most}.')
        start_iter, start = self._start
        most = _largest_growth(start, previous) if previous_iter > start_iter else None
        if most:
            sentences.append(f'From the start of this run (iteration {start_iter}) to iteration '
                             f'{previous_iter}: {most}; a checkpoint saved after a parameter '
                             'grew by orders of magnitude holds finite but useless weights.')
        return ''.join(' ' + s for s in sentences)


def _largest_growth(before: Dict[str, float], after: Dict[str, float]) -> Optional[str]:
    """``name`` ``a → b (×r)`` for the parameter whose norm grew by the largest factor among
    those finite and non-zero before and finite after, else None."""
    ratios = [(after[n] / a, n) for n, a in before.items()
              if n in after and math.isfinite(after[n]) and math.isfinite(a) and a > 0]
    if not ratios:
        return None
    ratio, name = max(ratios)
    return f'{name} norm {before[name]:.4g} → {after[name]:.4g} (×{ratio:.3g})'
