"""The teacher draws its own random numbers, so distillation does not reshuffle the student's.

mmrazor 1.0's ``SingleTeacherDistill.loss`` runs the teacher in train mode (only its norm layers
are put in eval mode) before the student, on the same torch generator. The teacher's dropout
(PSPNet's decode head has ``dropout_ratio=0.1``) therefore consumes random numbers, and every
dropout mask of the student differs from the one it draws when trained alone at the same seed: a
distilled run and a student-alone run were not comparable draw for draw, and a distiller whose
distillation weights are all 0 did not reproduce the student trained alone.

:func:`isolate_rng` registers two forward hooks on a module; kdseg's distillers
(:mod:`kdseg.engine.distillers`: ``KDSingleTeacherDistill``, ``KDFpnTeacherDistill``) apply it to
their teacher: before the teacher's forward the torch generators of the CPU and of the input's device
are saved and the teacher gets a generator seeded from the next draw (so its masks are not a
copy of the student's); after it they are restored. The student's random stream is exactly the
one it has without a teacher; nothing else about mmrazor's teacher forward changes.
"""
from typing import Any, Dict, List, Tuple

import torch
from torch import nn

__all__ = ['isolate_rng']

_STATE = '_kdseg_saved_rng'


def _devices(args: Tuple[Any, ...]) -> List[int]:
    """CUDA devices of the tensors among the forward's positional arguments."""
    return sorted({a.device.index or 0 for a in args
                   if isinstance(a, torch.Tensor) and a.device.type == 'cuda'})


def _save_and_reseed(module: nn.Module, args: Tuple[Any, ...]) -> None:
    devices = _devices(args)
    state: Dict[str, Any] = dict(cpu=torch.get_rng_state(),
                                 cuda={d: torch.cuda.get_rng_state(d) for d in devices})
    setattr(module, _STATE, state)
    # one draw from the caller's stream seeds the teacher's own; the draw is undone on restore
    seed = int(torch.randint(0, 2**62, (1, )))
    torch.default_generator.manual_seed(seed)
    for device in devices:
        torch.cuda.default_generators[device].manual_seed(seed)


def _restore(module: nn.Module, args: Tuple[Any, ...], output: Any) -> None:
    state = module.__dict__.pop(_STATE)
    torch.set_rng_state(state['cpu'])
    for device, cuda_state in state['cuda'].items():
        torch.cuda.set_rng_state(cuda_state, device)


def isolate_rng(module: nn.Module) -> nn.Module:
    """Make ``module``'s forward leave the torch generators as it found them (see module doc)."""
    module.register_forward_pre_hook(_save_and_reseed)
    module.register_forward_hook(_restore)
    return module
