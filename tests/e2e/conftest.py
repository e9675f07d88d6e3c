"""Fixtures for end-to-end runs: synthetic data in a scratch folder, the CLI tools as subprocesses.

Every run goes through tools/train.py and tools/test.py exactly as a user types them, with the
scratch folder as the working directory, so the configs' relative ``data/...`` roots resolve to
the generated data.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

import pytest

from kdseg.datasets import generate_cityscapes, generate_coco

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'configs')  # configs are named by their path under configs/


def _name(config: str) -> str:
    """A config's file name without folder and extension (its default work_dirs/ name)."""
    return osp.splitext(osp.basename(config))[0]


class Tools:
    """Runs kdseg's CLI tools in ``cwd`` and reads back what they wrote."""

    def __init__(self, cwd: str) -> None:
        self.cwd = cwd
        self._teachers: Dict[str, str] = {}

    def run(self, args: List[str], env: Optional[Dict[str, str]] = None,
            timeout: int = 600, fail: bool = False) -> str:
        """Run ``args`` in the scratch folder; returns the output. It must exit 0, or, with
        ``fail=True``, exit non-zero."""
        proc = subprocess.run(args, cwd=self.cwd, env={**os.environ, **(env or {})},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout)
        if (proc.returncode != 0) != fail:
            raise AssertionError(f'{" ".join(args)} exited {proc.returncode}:\n'
                                 f'{proc.stdout[-6000:]}')
        return proc.stdout

    def train_args(self, config: str, work_dir: str, iters: int, *options: str,
                   extra: Sequence[str] = ()) -> List[str]:
        """The tools/train.py command line for a demo config and an ``iters`` budget."""
        return [sys.executable, osp.join(ROOT, 'tools', 'train.py'), osp.join(CONFIGS, config),
                '--work-dir', work_dir, '--iters', str(iters), *extra,
                *(['--cfg-options', *options] if options else [])]

    def train(self, config: str, work_dir: str, iters: int, *options: str,
              extra: Sequence[str] = ()) -> str:
        """tools/train.py; returns the last checkpoint path."""
        self.run(self.train_args(config, work_dir, iters, *options, extra=extra))
        with open(osp.join(self.cwd, work_dir, 'last_checkpoint')) as f:
            return f.read().strip()

    def teacher(self, config: str) -> str:
        """A 2-iteration checkpoint of the demo teacher ``config``, trained once per session."""
        if config not in self._teachers:
            self._teachers[config] = self.train(config, f'teacher_{_name(config)}', 2)
        return self._teachers[config]

    def test_args(self, config: str, checkpoint: str, work_dir: str, *extra: str) -> List[str]:
        return [sys.executable, osp.join(ROOT, 'tools', 'test.py'), osp.join(CONFIGS, config),
                checkpoint, '--work-dir', work_dir, *extra]

    def test(self, config: str, checkpoint: str, work_dir: str, *extra: str) -> Dict:
        """tools/test.py; returns the metrics dict mmengine dumped as json."""
        self.run(self.test_args(config, checkpoint, work_dir, *extra))
        files = sorted(glob.glob(osp.join(self.cwd, work_dir, '*', '*.json')))
        assert files, f'no metrics json under {work_dir}'
        with open(files[-1]) as f:
            return json.load(f)


@pytest.fixture(scope='session')
def tools(tmp_path_factory) -> Tools:
    """A scratch folder holding small synthetic Cityscapes and COCO datasets."""
    cwd = str(tmp_path_factory.mktemp('e2e'))
    generate_cityscapes(osp.join(cwd, 'data', 'synthetic_cityscapes'), num_train=16, num_val=4,
                        seed=0)
    generate_coco(osp.join(cwd, 'data', 'synthetic_coco'), num_train=8, num_val=4, seed=0)
    return Tools(cwd)
