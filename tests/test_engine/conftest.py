"""Demo models built in-process from their configs, and real batches from the synthetic data."""
from types import SimpleNamespace

import pytest
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS, init_default_scope
from torch import nn

from conftest import build_model, demo_config  # noqa: F401  (the engine tests' helpers)
from kdseg.datasets import generate_cityscapes

TAT_DEMO = 'tat/demo/tat_pspnet_r50-narrow_r18-narrow_synthcity.py'
TEACHER = 'demo_models/pspnet_r50-narrow_synthcity.py'
STUDENT = 'demo_models/pspnet_r18-narrow_synthcity.py'


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
