"""Shared by the whole test suite: the repository's paths and how a test builds a config's model.

Test modules import these names with ``from conftest import ...`` (pytest puts ``tests/`` on the
import path for this file). Tests that train through the command-line tools, in a subprocess, are
marked ``e2e``: ``make test`` runs everything, ``make test-fast`` everything else.
"""
import copy
import functools
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

import kdseg  # noqa: F401  (compat fixes, kdseg's distillers, registrations)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs')  # configs are named by their path under configs/


@functools.lru_cache(maxsize=None)
def _parse(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIGS, name))


def demo_config(name: str) -> Config:
    """A fresh copy of a config (path under configs/), ``model.teacher_ckpt`` unset and the
    top-level ``data_preprocessor`` given to the model as the Runner gives it."""
    cfg = copy.deepcopy(_parse(name))
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = None
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return cfg


def build_model(cfg: Config, seed: int = 0) -> torch.nn.Module:
    """``cfg.model`` built as the Runner builds it (its default scope), from ``seed``."""
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    torch.manual_seed(seed)
    return MODELS.build(copy.deepcopy(cfg.model))


def random_logits(shape, dtype=torch.float64, seed=0, scale=2.0):
    """A (student, teacher) pair of logits of ``shape``, drawn in float64 and cast to ``dtype``
    (so every dtype sees the same numbers); the student requires grad."""
    gen = torch.Generator().manual_seed(seed)
    student = (scale * torch.randn(shape, generator=gen, dtype=torch.float64)).to(dtype)
    teacher = (scale * torch.randn(shape, generator=gen, dtype=torch.float64)).to(dtype)
    return student.requires_grad_(), teacher


def assert_close_grad(actual, expected, rtol):
    """Element-wise rtol with an absolute floor at rtol × the largest |gradient|."""
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, rtol=rtol,
                               atol=rtol * expected.abs().max().item())
