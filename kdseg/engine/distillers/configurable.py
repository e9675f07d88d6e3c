"""mmrazor's ``ConfigurableDistiller`` whose errors name the config key: ``KDConfigurableDistiller``.

mmrazor's distiller dies on ``assert '"backbone.layer9" is not in the model.'`` for a recorder
whose source is not a module (without saying student or teacher), and a loss that fails on the
recorded features raises from deep inside the loss, naming neither the loss nor the shapes. This
subclass, registered under its own name in mmrazor's ``MODELS``, initialises the recorders one by
one and computes each loss under a guard, so that

* a recorder failure names ``model.distiller.{student,teacher}_recorders.<name>``, its source, the
  side and the closest module names of that model;
* a record that cannot be taken names ``model.distiller.loss_forward_mappings.<loss>.<argument>``;
* a loss that fails names ``model.distiller.distill_losses.<loss>[.<argument>]`` (the argument
  when the loss's message starts with one, ``student_channels=64, but ...``) and the shape of
  every input, student or teacher.

On success it computes exactly what mmrazor's does. kdseg's ``ConfigCheckHook`` runs it on one
batch before iteration 1, so these errors come before the first teacher forward of training.
"""
import difflib
import inspect
import re
from typing import Any, Dict

import torch
from mmrazor.models.distillers import ConfigurableDistiller
from mmrazor.registry import MODELS
from torch import nn

__all__ = ['KDConfigurableDistiller']


def _shapes(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return str(tuple(value.shape))
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(_shapes(v) for v in value[:6]) + \
            (', ...' if len(value) > 6 else '') + ']'
    return type(value).__name__


def _argument_key(loss: nn.Module, err: Exception) -> str:
    """The loss argument an error names first (``student_channels=64, but ...``), if any."""
    match = re.match(r"\s*(\w+)\s*=", str(err))
    params = inspect.signature(type(loss).__init__).parameters
    return f'.{match.group(1)}' if match and match.group(1) in params else ''


def _where(record: dict) -> str:
    return ', '.join(f'{k}={v!r}' for k, v in record.items() if k != 'from_student')


def _side(record: dict) -> str:
    return 'student' if record.get('from_student') else 'teacher'


@MODELS.register_module()
class KDConfigurableDistiller(ConfigurableDistiller):
    """mmrazor's ``ConfigurableDistiller`` whose errors name the config key (module docstring).
    Arguments as mmrazor's."""

    def prepare_from_student(self, model: nn.Module) -> None:
        self._prepare_recorders(model, 'student')

    def prepare_from_teacher(self, model: nn.Module) -> None:
        self._prepare_recorders(model, 'teacher')

    def _prepare_recorders(self, model: nn.Module, side: str) -> None:
        manager = getattr(self, f'{side}_recorders')
        owner = 'model.architecture' if side == 'student' else 'model.teacher'
        for name, recorder in manager.recorders.items():
            try:
                recorder.initialize(model)
            except Exception as err:
                source = getattr(recorder, 'source', None)
                close = difflib.get_close_matches(
                    str(source), [n for n, _ in model.named_modules()], n=3, cutoff=0.5)
                hint = f' Closest {side} modules: {close}.' if close else ''
                raise ValueError(
                    f'model.distiller.{side}_recorders.{name}: {type(recorder).__name__} with '
                    f'source={source!r} cannot record the {side} ({owner}, '
                    f'{type(model).__name__}): {err}.{hint}') from err

    def compute_distill_losses(self) -> Dict[str, torch.Tensor]:
        losses = {}
        for loss_name, mappings in self.loss_forward_mappings.items():
            inputs = {}
            for arg, record in mappings.items():
                try:
                    inputs[arg] = self.get_record(**record)
                except Exception as err:
                    raise ValueError(
                        f'model.distiller.loss_forward_mappings.{loss_name}.{arg}: cannot take '
                        f'{_where(record)} from the {_side(record)}: {err}') from err
            loss = self.distill_losses[loss_name]
            try:
                losses[loss_name] = loss(**inputs)
            except Exception as err:
                described = '; '.join(
                    f'{arg} ({_side(record)}, {_where(record)}): {_shapes(inputs[arg])}'
                    for arg, record in mappings.items())
                key = f'model.distiller.distill_losses.{loss_name}{_argument_key(loss, err)}'
                raise ValueError(f'{key}: {type(loss).__name__} fails on the recorded features: '
                                 f'{err}. Inputs: {described}') from err
        return losses
