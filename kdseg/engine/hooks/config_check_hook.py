"""Check a training config against its data and model before iteration 1, naming the key."""
import functools
import math
from typing import Any, Dict, Iterator, List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch import nn

from ..finite import NonFiniteTrainingError, check_finite
from .rng_state_hook import get_rng_state, set_rng_state

__all__ = ['ConfigCheckHook', 'check_distill_losses', 'check_num_classes']


def _config_key(module_path: str) -> str:
    """``architecture.auxiliary_head.0`` -> ``model.architecture.auxiliary_head[0]``."""
    return 'model' + ''.join(f'[{p}]' if p.isdigit() else f'.{p}'
                             for p in module_path.split('.') if p)


def check_num_classes(model: nn.Module, datasets: Dict[str, Any]) -> None:
    """Every classification head's ``num_classes`` equals each dataset's number of classes.

    Heads are the modules whose class name ends in ``Head`` and that have an int ``num_classes``
    (mmseg decode/auxiliary heads, mmdet bbox and mask heads), except class-agnostic RPN heads.

    Args:
        model: the (unwrapped) model, a distiller included (student and teacher are checked).
        datasets: config key -> dataset, e.g. ``{'train_dataloader.dataset': ds}``.
    """
    problems = []
    for key, dataset in datasets.items():
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        if not classes:
            continue
        for path, module in model.named_modules():
            num = getattr(module, 'num_classes', None)
            name = type(module).__name__
            if (not isinstance(num, int) or not name.endswith('Head') or 'RPN' in name
                    or num == len(classes)):
                continue
            problems.append(f'{_config_key(path)}.num_classes={num} ({name}), but {key} has '
                            f'{len(classes)} classes ({", ".join(map(str, classes[:4]))}, ...)')
    if problems:
        raise ValueError('num_classes does not match the dataset: ' + '; '.join(problems) +
                         '. Set num_classes to the dataset\'s number of classes (or the dataset\'s '
                         'metainfo=dict(classes=...) to the classes the model predicts).')


def _dry_loss(model: nn.Module, batch: dict) -> Dict[str, torch.Tensor]:
    """``model.loss`` on ``batch`` in eval mode, without gradients and without touching any
    random-number generator; an error that does not name its config key is named ``model``."""
    was_training, rng = model.training, get_rng_state()
    try:
        model.eval()
        with torch.no_grad():
            data = model.data_preprocessor(batch, training=True)
            try:
                return model.loss(data['inputs'], data['data_samples'])
            except Exception as err:
                if isinstance(err, ValueError) and str(err).startswith('model.'):
                    raise
                raise ValueError(f'model: the distiller\'s loss failed on one training batch '
                                 f'before any distillation loss ran: {err}') from err
    finally:
        model.train(was_training)
        set_rng_state(rng)


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _first_non_finite_output(model: nn.Module, batch: dict) -> Optional[str]:
    """Rerun the dry loss with a forward hook on every module; the first module (in the order
    their forward calls finish, so the innermost first) whose output holds a NaN or inf."""
    found: List[str] = []

    def hook(name: str, module: nn.Module, args: Any, output: Any) -> None:
        if not found and any(t.is_floating_point() and not bool(torch.isfinite(t).all())
                             for t in _tensors(output)):
            found.append(f'{_config_key(name)} ({type(module).__name__})')

    handles = [module.register_forward_hook(functools.partial(hook, name))
               for name, module in model.named_modules() if name]
    try:
        _dry_loss(model, batch)
    finally:
        for handle in handles:
            handle.remove()
    return found[0] if found else None


def _require_finite(model: nn.Module, batch: dict, losses: Dict[str, Any]) -> None:
    """Raise NonFiniteTrainingError if a loss term of the dry run is not finite, naming the terms
    and the first module whose output is not finite (the weights were checked before)."""
    terms = {name: sum(float(t) for t in _tensors(value)) for name, value in losses.items()
             if 'loss' in name}
    bad = {name: value for name, value in terms.items() if not math.isfinite(value)}
    if not bad:
        return
    where = _first_non_finite_output(model, batch)
    raise NonFiniteTrainingError(
        'ConfigCheckHook: on one training batch, before iteration 1, the loss terms ' +
        ', '.join(f'{k}={v}' for k, v in bad.items()) + ' are not finite, though every '
        'parameter and buffer is. ' + (f'The first module whose output is not finite: {where}.'
                                       if where else 'Every module output is finite.') +
        ' Check that module\'s weights and settings (a loss_weight, a temperature) and the input '
        'data.')


def check_distill_losses(model: nn.Module, batch: dict) -> List[str]:
    """Run the distiller's ``loss`` on one batch, in eval mode, without gradients and without
    touching any random-number generator, and check every distillation loss: on the recorded
    features for an mmrazor distiller algorithm (kdseg's ``KDConfigurableDistiller`` names the
    failing config key itself), on the self-teacher's outputs for a self-distillation (kdseg's
    FRSKD: a ``self_teacher`` and ``distill_losses``). Returns one line per distillation loss;
    raises ValueError naming the config key on failure, NonFiniteTrainingError on a non-finite
    loss term.

    A no-op (empty list) for any other model.
    """
    self_distill = hasattr(model, 'self_teacher') and hasattr(model, 'distill_losses')
    distiller = hasattr(getattr(model, 'distiller', None), 'loss_forward_mappings')
    if not hasattr(model, 'loss') or not (self_distill or distiller):
        return []
    losses = _dry_loss(model, batch)
    _require_finite(model, batch, losses)
    return [f'{name.split(".", 1)[1]}: {float(value):.4g}'
            for name, value in losses.items() if name.startswith('distill.')]


@HOOKS.register_module()
class ConfigCheckHook(Hook):
    """Before the first iteration, check what otherwise fails late or never:

    * ``num_classes`` of every head (student and teacher) against the train and val datasets
      (:func:`check_num_classes`): a mismatch otherwise trains silently or crashes at validation;
    * every parameter and buffer of the model, a loaded or resumed one, teacher included, is
      finite (:func:`kdseg.engine.finite.check_finite`), and so is every loss term of the dry run
      below, else the first module whose output is not finite is named;
    * for a distiller, every recorder and distillation loss on one real training batch
      (:func:`check_distill_losses`): channel and feature-size mismatches, ``data_idx`` out of
      range, named as ``model.distiller.distill_losses.<loss>.<argument>`` with the shapes, before
      the first teacher forward of training instead of after it; for FRSKD, the self-teacher and
      its head on the student's features (``model.self_teacher.in_channels`` and the like).

    The dry run uses the first ``min(2, len(dataset))`` training samples, eval mode and no
    gradients, and restores every random-number generator, so training (and resume) is unchanged.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        loader = runner.train_dataloader
        datasets = {'train_dataloader.dataset': loader.dataset}
        val_loop = getattr(runner, '_val_loop', None)
        if val_loop is not None and not isinstance(val_loop, dict):
            datasets['val_dataloader.dataset'] = val_loop.dataloader.dataset
        check_num_classes(model, datasets)
        check_finite(model, f'ConfigCheckHook, before training iteration {runner.iter + 1}')

        dataset = loader.dataset
        rng = get_rng_state()  # the dataset's random transforms must not shift training's RNG
        try:
            batch = loader.collate_fn([dataset[i] for i in range(min(2, len(dataset)))])
        finally:
            set_rng_state(rng)
        lines = check_distill_losses(model, batch)
        if lines:
            print_log('ConfigCheckHook: every distillation loss runs on one training batch: ' +
                      ', '.join(lines), logger='current')
