"""FeatureVisHook: the feature grid every N iterations through the runner's visualizer, training
left as it was (train/eval flags, random generators)."""
import glob
import os.path as osp
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.runner import Runner

from kdseg.apis.feature_vis import expected_size, feature_rows
from kdseg.engine.hooks import FeatureVisHook

from .conftest import TAT_DEMO, build_model, demo_config


def _cfg(root: str, work_dir: str, iters: int, hook: dict):
    cfg = demo_config(TAT_DEMO)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=1000)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1000)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.custom_hooks = [hook]
    cfg.work_dir = work_dir
    cfg.visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')],
                          name='fv_test')
    return cfg


def test_hook_writes_every_n_iterations(cityscapes_root, tmp_path):
    image = glob.glob(osp.join(cityscapes_root, 'leftImg8bit', 'val', '*', '*.png'))[0]
    cfg = _cfg(cityscapes_root, str(tmp_path), 4,
               dict(type='FeatureVisHook', interval=2, image=image))
    runner = Runner.from_cfg(cfg)
    runner.train()
    files = sorted(glob.glob(osp.join(str(tmp_path), '*', 'vis_data', 'vis_image', '*.png')))
    assert [osp.basename(f) for f in files] == ['feature_vis_2.png', 'feature_vis_4.png']
    from PIL import Image
    shape = np.asarray(Image.open(files[0])).shape[:2]
    assert shape == (round(2.4 * 80), round(4 * 3.2 * 80))  # 1 TaT row: T | S | patch | anchor


def test_hook_restores_modes_and_rng(train_batch, cityscapes_root):
    model = build_model(demo_config(TAT_DEMO))
    model.train()
    flags = {name: m.training for name, m in model.named_modules()}
    assert not all(flags.values())  # mmrazor keeps the frozen teacher in eval mode
    cfg = demo_config(TAT_DEMO)
    cfg.val_dataloader.dataset.data_root = cityscapes_root
    images = []
    runner = SimpleNamespace(model=model, iter=2, cfg=cfg,
                             visualizer=SimpleNamespace(add_image=lambda name, image, step:
                                                        images.append((name, image, step))))
    hook = FeatureVisHook(interval=3, image=0)  # the first val image
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    hook.after_train_iter(runner, 2)
    after = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    assert after == (random.random(), np.random.rand(), torch.rand(1).item())
    assert {name: m.training for name, m in model.named_modules()} == flags
    (name, image, step), = images
    assert name == 'feature_vis' and step == 3 and image.dtype == np.uint8
    rows = feature_rows(model, hook._batch(runner))
    assert image.shape[:2] == expected_size(rows)
    runner.iter = 3
    hook.after_train_iter(runner, 3)  # iteration 4: not a multiple of 3
    assert len(images) == 1


def test_hook_arguments():
    with pytest.raises(ValueError, match='interval'):
        FeatureVisHook(interval=0)
    with pytest.raises(FileNotFoundError):
        FeatureVisHook(image='/no/such/image.png')
