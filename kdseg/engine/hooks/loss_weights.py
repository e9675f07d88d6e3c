"""Where a model keeps its distillation losses, shared by the hooks that schedule their weights
(DistillWarmupHook, DistillRampHook)."""
from typing import Dict, Optional, Sequence, Tuple

from mmengine.model import is_model_wrapper
from torch import nn

__all__ = ['check_nonnegative_int', 'find_loss_weights']

# (attribute path from the model, config key prefix), in the order they are looked up.
_LAYOUTS = (
    (('distiller', 'distill_losses'), 'model.distiller.distill_losses'),  # mmrazor distillers
    (('distill_losses', ), 'model.distill_losses'),  # self-distillation algorithms (FRSKD)
)


def check_nonnegative_int(hook: str, name: str, value, minimum: int = 0) -> int:
    """``value`` if it is an int (not a bool) ``>= minimum``; otherwise a ValueError naming
    ``hook`` and the argument ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = 'a positive int' if minimum == 1 else f'an int >= {minimum}'
        raise ValueError(f'{hook}: {name} must be {kind}, got {value!r}')
    return value


def find_loss_weights(
        model: nn.Module, hook: str,
        names: Optional[Sequence[str]]) -> Tuple[nn.Module, Dict[str, float], str]:
    """The distillation losses of ``model`` and the configured ``loss_weight`` of each one named.

    The losses are looked up at ``model.distiller.distill_losses`` (mmrazor distillers), then at
    ``model.distill_losses`` (self-distillation algorithms such as FRSKD); a model wrapper
    (DDP and the like) is unwrapped first.

    Args:
        model: the runner's model, wrapped or not.
        hook: the calling hook's name, for the error messages.
        names: the loss names to return weights for; ``None`` for every loss.

    Returns:
        ``(losses, {name: configured loss_weight}, prefix)``, where ``losses`` is the container
        (an ``nn.ModuleDict``) and ``prefix`` the config key path of its entries, e.g.
        ``'model.distill_losses'``.

    Raises:
        ValueError: the model has neither layout, ``names`` is not a list of names, or a named
            loss does not exist or has no ``loss_weight`` (the message names its config key).
    """
    if is_model_wrapper(model):
        model = model.module
    for path, prefix in _LAYOUTS:
        losses = model
        for attr in path:
            losses = getattr(losses, attr, None)
        if losses is not None:
            break
    else:
        raise ValueError(
            f'{hook} needs distillation losses at model.distiller.distill_losses (an mmrazor '
            f'distiller) or model.distill_losses (a self-distillation algorithm such as FRSKD); '
            f'the model is a {type(model).__name__} with neither')
    if names is None:
        names = list(losses)
    elif isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ValueError(f'{hook}.losses must be a list of names in {prefix}, got {names!r}')
    full = {}
    for name in names:
        loss = losses[name] if name in losses else None
        if loss is None or not hasattr(loss, 'loss_weight'):
            raise ValueError(f'{hook}.losses: {prefix}.{name} does not exist or has no '
                             f'loss_weight')
        full[name] = float(loss.loss_weight)
    return losses, full, prefix
