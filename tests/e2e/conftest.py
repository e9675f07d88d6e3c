"""Fixtures for end-to-end runs: synthetic data in a scratch folder, the CLI tools as subprocesses.

Every run goes through tools/train.py and tools/test.py exactly as a user types them, with the
scratch folder as the working directory, so the configs' relative ``data/...`` roots resolve to
the generated data. What the tests compare a run against (an untrained model, predictions from a
checkpoint) is built in-process with plain mmengine and torch calls, not with the tools' code.
"""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import Runner, save_checkpoint, set_random_seed

from conftest import CONFIGS, ROOT
from kdseg.datasets import generate_cityscapes, generate_coco

# Every training run the tests parse logs each iteration's own values: logger interval 1 and a
# smoothing window of 1 (mmengine averages losses over log_processor.window_size iterations).
LOG_EVERY_ITER = ('default_hooks.logger.interval=1', 'log_processor.window_size=1')
TEACHER_ITERS = 30


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
        """A TEACHER_ITERS-iteration checkpoint of the demo teacher ``config``, trained once per
        session in ``teacher_<name>/`` with every iteration logged."""
        if config not in self._teachers:
            self._teachers[config] = self.train(config, self.teacher_dir(config), TEACHER_ITERS,
                                                *LOG_EVERY_ITER)
        return self._teachers[config]

    @staticmethod
    def teacher_dir(config: str) -> str:
        return f'teacher_{_name(config)}'

    def log(self, work_dir: str) -> str:
        """The text log of the last run in ``work_dir``."""
        with open(sorted(glob.glob(osp.join(self.cwd, work_dir, '*', '*.log')))[-1]) as f:
            return f.read()

    def losses(self, work_dir: str, pattern: str) -> List[float]:
        """Per training iteration (a run with LOG_EVERY_ITER), the sum of the logged values whose
        key fully matches the regular expression ``pattern`` (``distill\\.loss_\\w+``: every
        distillation term)."""
        curve = []
        for line in self.log(work_dir).splitlines():
            if 'Iter(train)' in line:
                values = re.findall(rf'(?:^|\s)(?:{pattern}): (\S+)', line)
                assert values, f'no {pattern} in {line!r}'
                curve.append(sum(float(v) for v in values))
        return curve

    def validation(self, work_dir: str) -> Dict[str, float]:
        """The metrics of the last validation of the last run in ``work_dir``, as the training
        process logged them (vis_data/scalars.json)."""
        scalars = sorted(glob.glob(osp.join(self.cwd, work_dir, '*', 'vis_data', 'scalars.json')))
        with open(scalars[-1]) as f:
            records = [json.loads(line) for line in f]
        return [r for r in records if 'lr' not in r and 'loss' not in r][-1]

    def random_init(self, config: str) -> str:
        """A checkpoint of ``config``'s model as initialised before iteration 1 (the config's
        seed, ``init_weights()``), never trained: what a trained model must beat."""
        path = osp.join(self.cwd, f'random_{_name(config)}.pth')
        if not osp.exists(path):
            cfg = Config.fromfile(osp.join(CONFIGS, config))
            init_default_scope(cfg.default_scope)
            set_random_seed(cfg.randomness.seed)
            model = MODELS.build(cfg.model)
            model.init_weights()
            save_checkpoint({'meta': {'iter': 0}, 'state_dict': model.state_dict()}, path)
        return path

    def predict(self, config: str, checkpoint: str) -> list:
        """The test split's predictions of ``config``'s model with the checkpoint's weights,
        computed in this process: built by mmengine's registry, loaded by torch's own
        ``load_state_dict(strict=True)``, batches from mmengine's dataloader."""
        cfg = Config.fromfile(osp.join(CONFIGS, config))
        init_default_scope(cfg.default_scope)
        model = MODELS.build(cfg.model)
        state = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
        model.load_state_dict(state, strict=True)
        model.eval()
        loader = cfg.test_dataloader
        loader.dataset.data_root = osp.join(self.cwd, loader.dataset.data_root)
        with torch.no_grad():
            return [sample for batch in Runner.build_dataloader(loader)
                    for sample in model.test_step(batch)]

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
