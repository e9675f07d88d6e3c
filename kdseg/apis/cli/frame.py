"""Command-line arguments and the run frame that tools/train.py and tools/test.py share."""
import argparse
import contextlib
import difflib
import os
import re
import time
from typing import Any, Iterator, List, Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS, Registry
from mmengine.runner import Runner

from .runner_setup import LAUNCHERS, cpu_distributed


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """--work-dir, --cfg-options, --launcher and --local-rank, as in mmdet's and mmseg's tools."""
    parser.add_argument('--work-dir', help='the dir to save logs, checkpoints and metrics')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value (e.g. train_cfg.max_iters=10)')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK itself.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser,
                      argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse, and export LOCAL_RANK for mmengine when no launcher has set it."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


class UnknownTypeError(KeyError):
    """A config's ``type`` names no registered class; the message names the config key."""

    def __str__(self) -> str:  # KeyError's own str() quotes the message
        return str(self.args[0])


def _type_keys(node: Any, name: str, key: str = '') -> List[str]:
    """The config keys whose ``type`` is ``name`` (``model.distiller.distill_losses.x.type``)."""
    found = []
    if isinstance(node, dict):
        if node.get('type') == name:
            found.append(f'{key}.type' if key else 'type')
        for k, value in node.items():
            found += _type_keys(value, name, f'{key}.{k}' if key else str(k))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found += _type_keys(value, name, f'{key}[{i}]')
    return found


def _registered_names(registry_name: str) -> List[str]:
    """Every name registered in the registries called ``registry_name``, all scopes."""
    import mmengine.registry as registries
    names: set = set()

    def walk(registry: Registry) -> None:
        names.update(registry.module_dict)
        for child in registry.children.values():
            walk(child)

    for registry in vars(registries).values():
        if isinstance(registry, Registry) and registry.name == registry_name:
            walk(registry)
    return sorted(names)


@contextlib.contextmanager
def config_keys_named(cfg: Config) -> Iterator[None]:
    """Turn mmengine's "X is not in the scope::name registry" into an error that names the config
    key(s) whose ``type`` is X and the closest registered names."""
    try:
        yield
    except KeyError as err:
        found = re.search(r'([^\s\'"`]+) is not in the (\S+?)::(\S+) registry', str(err))
        if not found or isinstance(err, UnknownTypeError):
            raise
        name, scope, registry_name = found.groups()
        keys = _type_keys(cfg.to_dict(), name) or ['a `type` of the config']
        close = difflib.get_close_matches(name.split('.')[-1], _registered_names(registry_name),
                                          n=3, cutoff=0.6)
        hint = f' Did you mean {" or ".join(map(repr, close))}?' if close else ''
        raise UnknownTypeError(
            f'{" and ".join(f"{k}={name!r}" for k in keys)}: no {registry_name} of that name is '
            f'registered (looked in the {scope}::{registry_name} registry and its parents).'
            f'{hint} Correct the name, or import the module that registers it '
            '(custom_imports = dict(imports=[...])).') from err


@contextlib.contextmanager
def runner_from(cfg: Config) -> Iterator[Runner]:
    """The config's runner (``runner_type`` if it names one), and a clean end for a distributed
    run; without CUDA, ``--launcher pytorch`` runs on CPU processes with gloo
    (:func:`cpu_distributed`). A ``type`` that names no registered class, met while the runner
    builds or runs, is reported with its config key (:func:`config_keys_named`).

    A gloo worker thread retires each finished collective and drops its tensors, which needs the
    GIL; if the last collective (mmengine's metric gathering, say) is retired while Python is
    already finalizing, the thread is killed inside C++ and the finished run aborts
    ('terminate called without an active exception', exit -6; seen in about 1 of 8 two-process
    CPU runs, with mmengine's own collectives alone). So on leaving, the ranks meet at a barrier
    (every earlier collective is then complete), the GIL is released briefly for the workers to
    retire them, and the process group is destroyed. Only after success: a rank that failed
    alone must not wait at a barrier the others never reach.
    """
    cpu_distributed(cfg)
    with config_keys_named(cfg):
        yield Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        time.sleep(0.2)
        torch.distributed.destroy_process_group()
