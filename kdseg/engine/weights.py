"""Strict weight loading: a checkpoint fits the model it is loaded into, or the run stops.

mmengine's ``load_checkpoint`` is non-strict and only warns about missing keys, so a teacher
checkpoint of the wrong model trained against a random teacher (``teacher.mIoU: 0.0000``), and
``tools/test.py STUDENT_CONFIG DISTILLER_CHECKPOINT`` evaluated a random student with exit 0.
:func:`load_weights` accepts a checkpoint only when its keys and shapes are exactly the model's:

* a model accepts its own checkpoint;
* a plain model also accepts the matching part of a distiller checkpoint (mmrazor's
  ``SingleTeacherDistill`` saves ``architecture.*``, ``teacher.*`` and ``distiller.*``): the
  student takes ``architecture.*``, the teacher ``teacher.*``, chosen by ``prefixes``;
* anything else raises :class:`CheckpointMismatchError` naming the config key, the missing and
  unexpected keys and the shape mismatches;
* a fitting checkpoint with a NaN or an infinity in any tensor (a BatchNorm statistic included)
  raises :class:`NonFiniteCheckpointError` naming the tensors, before anything is loaded.

Checkpoints are read through mmengine's ``CheckpointLoader`` (every scheme: local, URL, prefixes),
which kdseg.compat makes load with ``weights_only=True`` and the allow-list.
"""
from typing import Dict, Mapping, Sequence, Tuple

import torch
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

from .finite import non_finite

__all__ = ['CheckpointMismatchError', 'NonFiniteCheckpointError', 'load_weights', 'select_weights']

# the prefix mmengine strips by default (a DataParallel/DDP-wrapped model saved as is)
WRAPPER_PREFIX = 'module.'


class CheckpointMismatchError(ValueError):
    """A checkpoint whose keys or shapes do not fit the model it is loaded into."""


class NonFiniteCheckpointError(ValueError):
    """A checkpoint that fits, but holds a NaN or an infinity in a weight or a buffer."""


def _examples(keys: Sequence[str], limit: int = 4) -> str:
    shown = ', '.join(sorted(keys)[:limit])
    return shown + (f', ... ({len(keys)} in all)' if len(keys) > limit else '')


def _mismatch(state: Mapping[str, torch.Tensor],
              expected: Mapping[str, torch.Tensor]) -> Tuple[list, list, list]:
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [f'{k}: checkpoint {tuple(state[k].shape)}, model {tuple(v.shape)}'
                for k, v in expected.items()
                if k in state and hasattr(state[k], 'shape') and state[k].shape != v.shape]
    return missing, unexpected, reshaped


def select_weights(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor],
                   prefixes: Sequence[str] = (), what: str = 'the model',
                   source: str = 'the checkpoint') -> Dict[str, torch.Tensor]:
    """The part of ``state`` that fits ``expected`` exactly: all of it, or the keys under one of
    ``prefixes`` with the prefix removed. Raises :class:`CheckpointMismatchError` otherwise.

    Args:
        state: the checkpoint's state dict (``module.`` already stripped).
        expected: the model's ``state_dict()``.
        prefixes: sub-model parts of a distiller checkpoint to try, e.g. ``('teacher.',)``.
        what: the model in words, for the error (``'model.teacher'``).
        source: the checkpoint in words, for the error (``"model.teacher_ckpt='t.pth'"``).
    """
    candidates = [('', dict(state))]
    for prefix in prefixes:
        part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if part:
            candidates.append((prefix, part))
    for prefix, candidate in candidates:
        if not any(_mismatch(candidate, expected)):
            return candidate
    # report against the candidate that shares most keys with the model
    prefix, best = max(candidates, key=lambda c: len(expected.keys() & c[1].keys()))
    missing, unexpected, reshaped = _mismatch(best, expected)
    parts = [f'{len(missing)} of the model\'s {len(expected)} keys are missing '
             f'({_examples(missing)})' if missing else '',
             f'{len(unexpected)} keys are unexpected ({_examples(unexpected)})'
             if unexpected else '',
             f'{len(reshaped)} have another shape ({_examples(reshaped, 2)})' if reshaped else '']
    looked = f" (its '{prefix}*' part)" if prefix else ''
    tried = (f'; tried the whole checkpoint and its {", ".join(p + "*" for p in prefixes)} part'
             if prefixes else '')
    distiller = any(k.startswith('architecture.') for k in state)
    hint = (' It is a distiller checkpoint (architecture.*/teacher.*): evaluate it with the '
            'distillation config, or the student with the student config.'
            if distiller and not prefixes else '')
    raise CheckpointMismatchError(
        f'{source}{looked} does not fit {what}: ' + '; '.join(p for p in parts if p) +
        f'{tried}.{hint} Nothing was loaded.')


def load_weights(model: nn.Module, filename: str, prefixes: Sequence[str] = (),
                 key: str = 'checkpoint', what: str = 'the model') -> dict:
    """Load ``filename`` into ``model`` strictly (see the module docstring); returns the checkpoint.

    Args:
        model: the model (a wrapped model is unwrapped).
        filename: a local path, URL or mmengine prefix (``open-mmlab://...``).
        prefixes: distiller-checkpoint parts this model may take (``('architecture.',)``).
        key: the config key or flag that named the file, for errors (``'model.teacher_ckpt'``).
        what: the model in words, for errors.
    """
    if is_model_wrapper(model):
        model = model.module
    try:
        checkpoint = CheckpointLoader.load_checkpoint(filename, map_location='cpu')
    except FileNotFoundError as err:
        raise FileNotFoundError(f'{key}={filename!r}: no such checkpoint ({err})') from err
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, Mapping):
        raise CheckpointMismatchError(f'{key}={filename!r} holds no state dict '
                                      f'(got {type(checkpoint).__name__})')
    state = {(k[len(WRAPPER_PREFIX):] if k.startswith(WRAPPER_PREFIX) else k): v
             for k, v in state.items()}
    weights = select_weights(state, model.state_dict(), prefixes, what, f'{key}={filename!r}')
    bad = non_finite(weights.items())
    if bad:
        raise NonFiniteCheckpointError(
            f'{key}={filename!r}: {len(bad)} of the {len(weights)} tensors it gives {what} are '
            f'not finite (NaN or inf): {_examples(bad)}. Nothing was loaded; a model with a '
            'non-finite weight or BatchNorm statistic gives meaningless predictions and scores.')
    model.load_state_dict(weights, strict=True)
    return checkpoint
