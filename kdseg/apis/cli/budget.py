"""One switch for an iteration budget: ``tools/train.py CONFIG --iters N``.

A config's budget lives in several keys that must agree: ``train_cfg.max_iters``, the validation
and checkpoint intervals, and every iteration-based LR/momentum scheduler's ``begin``/``end``
(warm-up included) and ``milestones``/``T_max``. Changing one alone gave PolyLR schedules that end
before they begin (the old 4-key recipe failed below the 50-iteration warm-up).
"""
from typing import Any, Dict

from mmengine.config import Config

__all__ = ['set_iteration_budget']


def _scaled(point: int, old: int, new: int) -> int:
    """Schedule point ``point`` of an ``old``-iteration run, in a ``new``-iteration run: same
    fraction of the run, at least 1 when it was (a warm-up keeps one iteration), at most ``new``."""
    if point <= 0:
        return 0
    if point >= old:
        return new
    return min(new, max(1, round(point * new / old)))


def _scale_scheduler(scheduler: Dict[str, Any], old: int, new: int) -> None:
    if scheduler.get('by_epoch', True):
        return  # counts epochs, not iterations
    begin = _scaled(scheduler.get('begin', 0), old, new)
    scheduler['begin'] = begin
    if 'end' in scheduler:
        scheduler['end'] = max(_scaled(scheduler['end'], old, new), begin + 1)
    if 'milestones' in scheduler:
        scheduler['milestones'] = [_scaled(m, old, new) for m in scheduler['milestones']]
    if 'T_max' in scheduler:
        scheduler['T_max'] = max(1, _scaled(scheduler['T_max'], old, new))


def set_iteration_budget(cfg: Config, iters: int) -> Config:
    """Give an iteration-based config a budget of ``iters`` iterations.

    * ``train_cfg.max_iters = iters``;
    * ``train_cfg.val_interval`` and ``default_hooks.checkpoint.interval`` become at most
      ``iters`` (so the run validates and saves at least at its end);
    * every iteration-based scheduler in ``param_scheduler`` keeps its place in the run: its
      ``begin``, ``end``, ``milestones`` and ``T_max`` are scaled by ``iters / old max_iters``; a
      warm-up keeps at least one iteration, and every scheduler ends after it begins;
    * a ``DistillWarmupHook`` in ``custom_hooks`` scales its ``warmup_iters`` the same way, and a
      ``DistillRampHook`` its start and end (``begin_iter``, ``begin_iter + ramp_iters``) and
      the length of its steps when given in iterations (``step_iters``, at least 1; a
      ``step_iters='epoch'`` stays one pass over the training data, whatever the budget);
    * FRSKD's ``model.detach_self_teacher_input_until`` (an iteration when > 0) scales the same
      way, so it keeps its place against the ramp and the LR milestones.

    Raises ValueError for an epoch-based config (the key to change there is
    ``train_cfg.max_epochs``) or a non-positive ``iters``.
    """
    if not isinstance(iters, int) or iters < 1:
        raise ValueError(f'--iters must be a positive int, got {iters!r}')
    train_cfg = cfg.get('train_cfg')
    if (not train_cfg or 'max_iters' not in train_cfg
            or train_cfg.get('type', 'IterBasedTrainLoop') != 'IterBasedTrainLoop'):
        loop = (train_cfg or {}).get('type', 'EpochBasedTrainLoop')
        raise ValueError(f'--iters needs an iteration-based train_cfg (IterBasedTrainLoop with '
                         f'max_iters); this config has train_cfg {dict(train_cfg or {})} '
                         f'({loop}): set train_cfg.max_epochs with --cfg-options instead')
    old = train_cfg.max_iters
    train_cfg.max_iters = iters
    if 'val_interval' in train_cfg:
        train_cfg.val_interval = min(train_cfg.val_interval, iters)
    checkpoint = cfg.get('default_hooks', {}).get('checkpoint')
    if checkpoint and not checkpoint.get('by_epoch', True) and 'interval' in checkpoint:
        checkpoint.interval = min(checkpoint.interval, iters)
    schedulers = cfg.get('param_scheduler') or []
    for scheduler in [schedulers] if isinstance(schedulers, dict) else schedulers:
        _scale_scheduler(scheduler, old, iters)
    for hook in cfg.get('custom_hooks') or []:  # the distillation schedules are schedules too
        if hook.get('type') == 'DistillWarmupHook' and 'warmup_iters' in hook:
            hook['warmup_iters'] = _scaled(hook['warmup_iters'], old, iters)
        if hook.get('type') == 'DistillRampHook' and 'begin_iter' in hook:
            end = hook['begin_iter'] + hook.get('ramp_iters', 0)
            hook['begin_iter'] = _scaled(hook['begin_iter'], old, iters)
            hook['ramp_iters'] = _scaled(end, old, iters) - hook['begin_iter']
            if isinstance(hook.get('step_iters'), int):  # 'epoch' is a data length: kept
                hook['step_iters'] = max(1, _scaled(hook['step_iters'], old, iters))
    model = cfg.get('model') or {}
    if model.get('detach_self_teacher_input_until', 0) > 0:
        model['detach_self_teacher_input_until'] = _scaled(
            model['detach_self_teacher_input_until'], old, iters)
    return cfg
