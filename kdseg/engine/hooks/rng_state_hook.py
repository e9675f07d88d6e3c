"""Exact resume: the random-number state travels in the checkpoint, per rank."""
import random
from typing import Any, Callable, Dict, Iterator, List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

__all__ = ['RNGStateHook', 'get_rng_state', 'set_rng_state']

CHECKPOINT_KEY = 'rng_state'


def get_rng_state() -> Dict[str, Any]:
    """This process's python, numpy, torch (and CUDA) random-number states."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


class _RestoreBeforeDraw:
    """Wraps a train loop's data iterator: after ``skip`` draws, calls ``restore`` once, then
    draws. mmengine's IterBasedTrainLoop replays ``iter`` draws to skip the data already trained
    on, and those draws consume random numbers; restoring after them, before the first new batch
    is drawn, puts every generator where the uninterrupted run had it."""

    def __init__(self, iterator: Iterator, skip: int, restore: Callable[[], None]) -> None:
        self._iterator, self._skip, self._restore = iterator, skip, restore

    def __iter__(self) -> '_RestoreBeforeDraw':
        return self

    def __next__(self) -> Any:
        if self._skip > 0:
            self._skip -= 1
        elif self._restore is not None:
            self._restore()
            self._restore = None
        return next(self._iterator)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._iterator, name)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the python, numpy and torch RNG states of every rank in each checkpoint, and restore
    them on resume, so an interrupted and resumed run equals an uninterrupted one, dropout and
    data augmentation included.

    mmengine 0.10 reseeds instead (and only when the seed changed), so on resume dropout masks
    and augmentations differ from the uninterrupted run. This hook:

    * after every train iteration and epoch (before ``CheckpointHook``, priority VERY_LOW), takes
      the states of all ranks (one ``all_gather_object`` when distributed) and puts them in the
      next checkpoint under ``'rng_state'``;
    * on resume, restores this rank's states right before the first new batch is drawn (for an
      ``IterBasedTrainLoop``, after mmengine's replay of the skipped batches);
    * leaves validation neutral: states are restored after each validation, so training does not
      depend on when or whether it validates (and a resumed run, which does not repeat the
      validation of its resume point, matches).
    """

    priority = 'NORMAL'

    def __init__(self) -> None:
        self._states: Optional[List[Dict[str, Any]]] = None  # all ranks, for the next checkpoint
        self._resumed: Optional[List[Dict[str, Any]]] = None  # from the loaded checkpoint
        self._before_val: Optional[Dict[str, Any]] = None

    def _capture(self) -> None:
        state = get_rng_state()
        self._states = all_gather_object(state) if get_world_size() > 1 else [state]

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._capture()

    def after_train_epoch(self, runner) -> None:
        self._capture()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._states is not None:
            checkpoint[CHECKPOINT_KEY] = self._states

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._resumed = checkpoint.get(CHECKPOINT_KEY)

    def before_train_epoch(self, runner) -> None:
        states, self._resumed = self._resumed, None
        if states is None or (runner.iter == 0 and runner.epoch == 0):
            return  # a fresh run, or `load_from` weights (not a resume)
        if len(states) != get_world_size():
            print_log(f'The checkpoint holds RNG states for {len(states)} processes, this run '
                      f'has {get_world_size()}: random numbers are reseeded, not restored, so '
                      'the resumed run will not repeat the uninterrupted one exactly.',
                      logger='current', level=30)
            return
        state = states[get_rank()]
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator'):  # IterBasedTrainLoop: after its replay
            loop.dataloader_iterator = _RestoreBeforeDraw(
                loop.dataloader_iterator, runner.iter, lambda: set_rng_state(state))
        else:
            set_rng_state(state)

    def before_val(self, runner) -> None:
        self._before_val = get_rng_state()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            set_rng_state(self._before_val)
            self._before_val = None
