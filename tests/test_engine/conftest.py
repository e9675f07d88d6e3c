"""Demo models built in-process from their configs, and real batches from the synthetic data."""
import copy
import functools
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS, MODELS, init_default_scope
from torch import nn

import kdseg  # noqa: F401  (compat fixes, strict distillers, registrations)
from kdseg.datasets import generate_cityscapes

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'configs')
TAT_DEMO = 'tat/demo/tat_pspnet_r50-narrow_r18-narrow_synthcity.py'
TEACHER = 'demo_models/pspnet_r50-narrow_synthcity.py'
STUDENT = 'demo_models/pspnet_r18-narrow_synthcity.py'


@functools.lru_cache(maxsize=None)
def _parse(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIGS, name))


def demo_config(name: str) -> Config:
    """A fresh copy of a config (path under configs/), teacher_ckpt unset."""
    cfg = copy.deepcopy(_parse(name))
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = None
    return cfg


def build_model(cfg: Config) -> torch.nn.Module:
    """``cfg.model`` built as the Runner builds it (top-level data_preprocessor, default scope)."""
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


@pytest.fixture(scope='session')
def cityscapes_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('engine_data') / 'synthetic_cityscapes')
    generate_cityscapes(root, num_train=4, num_val=2, seed=0)
    return root


@pytest.fixture(scope='session')
def train_dataset(cityscapes_root):
    cfg = demo_config(TAT_DEMO)
    cfg.train_dataloader.dataset.data_root = cityscapes_root
    init_default_scope('mmseg')
    return DATASETS.build(cfg.train_dataloader.dataset)


@pytest.fixture
def train_batch(train_dataset) -> dict:
    """Two samples of the demo training pipeline, collated as the dataloader does."""
    return pseudo_collate([train_dataset[0], train_dataset[1]])


class Weighted(nn.Module):
    """A stand-in distillation loss: only its ``loss_weight``, which the schedule hooks set."""

    def __init__(self, loss_weight: float) -> None:
        super().__init__()
        self.loss_weight = loss_weight


def distiller_runner(**weights) -> SimpleNamespace:
    """A runner whose model keeps its losses as mmrazor does: model.distiller.distill_losses."""
    model = nn.Module()
    model.distiller = nn.Module()
    model.distiller.distill_losses = nn.ModuleDict(
        {name: Weighted(w) for name, w in weights.items()})
    return SimpleNamespace(model=model, iter=0)


def self_distill_runner(**weights) -> SimpleNamespace:
    """A runner whose model keeps its losses as FRSKD does: model.distill_losses."""
    model = nn.Module()
    model.distill_losses = nn.ModuleDict({name: Weighted(w) for name, w in weights.items()})
    return SimpleNamespace(model=model, iter=0)
