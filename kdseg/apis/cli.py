"""Command-line arguments and the run frame that tools/train.py and tools/test.py share."""
import argparse
import contextlib
import os
import time
from typing import Iterator, Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .runner_setup import LAUNCHERS


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


@contextlib.contextmanager
def runner_from(cfg: Config) -> Iterator[Runner]:
    """The config's runner (``runner_type`` if it names one), and a clean end for a distributed
    run.

    A gloo worker thread retires each finished collective and drops its tensors, which needs the
    GIL; if the last collective (mmengine's metric gathering, say) is retired while Python is
    already finalizing, the thread is killed inside C++ and the finished run aborts
    ('terminate called without an active exception', exit -6; seen in about 1 of 8 two-process
    CPU runs, with mmengine's own collectives alone). So on leaving, the ranks meet at a barrier
    (every earlier collective is then complete), the GIL is released briefly for the workers to
    retire them, and the process group is destroyed. Only after success: a rank that failed
    alone must not wait at a barrier the others never reach.
    """
    yield Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        time.sleep(0.2)
        torch.distributed.destroy_process_group()
