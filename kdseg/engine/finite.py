"""Which tensors of a model or a checkpoint are not finite, named, with one host sync per device.

A NaN in a BatchNorm's ``running_mean`` is invisible to a check of the parameters and to the
loss of a model in training mode (which normalises with the batch statistics), yet it changes
every prediction in eval mode: tools/test.py evaluated an all-NaN model to ``mIoU: 1.88`` with
exit 0. So kdseg checks parameters *and* buffers wherever weights enter a run
(:func:`kdseg.engine.load_weights`, before iteration 1, and after every iteration).
"""
from typing import Iterable, List, Tuple

import torch
from torch import Tensor, nn

__all__ = ['NonFiniteTrainingError', 'check_finite', 'model_tensors', 'non_finite', 'part_of']


class NonFiniteTrainingError(FloatingPointError):
    """A loss term, a parameter or a buffer is NaN or infinite in a training run."""


def model_tensors(model: nn.Module) -> List[Tuple[str, Tensor]]:
    """Every parameter, then every buffer, with its qualified name."""
    return [*model.named_parameters(), *model.named_buffers()]


def non_finite(named: Iterable[Tuple[str, Tensor]]) -> List[str]:
    """The names, in order, of the floating-point tensors in ``named`` that hold a NaN or an
    infinity (integer tensors, such as ``num_batches_tracked``, are always finite)."""
    named = [(n, t.detach()) for n, t in named
             if torch.is_tensor(t) and t.is_floating_point() and t.numel()]
    by_device = {}
    for index, (_, tensor) in enumerate(named):
        by_device.setdefault(tensor.device, []).append(index)
    bad = []
    for indices in by_device.values():
        finite = torch.stack([torch.isfinite(named[i][1]).all() for i in indices]).cpu()
        bad += [indices[j] for j in (~finite).nonzero().flatten().tolist()]
    return [named[i][0] for i in sorted(bad)]


def part_of(name: str) -> str:
    """The part of a (distiller) model a tensor belongs to, in config terms."""
    head = name.split('.', 1)[0]
    return {'architecture': 'the student (model.architecture)',
            'teacher': 'the teacher (model.teacher)',
            'distiller': 'the distiller (model.distiller: connectors, loss modules)',
            'self_teacher': 'the self-teacher (model.self_teacher)'}.get(head, 'the model')


def check_finite(model: nn.Module, when: str) -> None:
    """Raise :class:`NonFiniteTrainingError` naming the first non-finite parameter or buffer of
    ``model`` (and how many there are); ``when`` says at which point of the run, for the
    message."""
    bad = non_finite(model_tensors(model))
    if bad:
        more = f' ({len(bad)} non-finite tensors in all: {", ".join(bad[:4])}' + \
            (', ...)' if len(bad) > 4 else ')') if len(bad) > 1 else ''
        raise NonFiniteTrainingError(
            f'{when}: {bad[0]} of {part_of(bad[0])} is not finite{more}. It came from a loaded '
            'checkpoint (model.teacher_ckpt for the teacher, load_from or --resume, '
            '--student-init) or from the model\'s initialisation; nothing was trained with it.')
