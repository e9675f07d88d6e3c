"""A missing dataset is reported before anything is built, naming the keys and what to do."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from kdseg.apis.cli import check_data_paths

URL = 'https://download.openmmlab.com/x/teacher_20200606-e1e1100f.pth'


def _cfg(root, **dataset):
    return Config(dict(model=dict(teacher_ckpt=URL), train_dataloader=dict(
        dataset=dict(type='RepeatDataset', times=2,
                     dataset=dict(data_root=root, **dataset)))))


def test_missing_root_names_key_remedies_and_teacher_url(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    with pytest.raises(FileNotFoundError) as err:
        check_data_paths(_cfg('data/cityscapes/'), ('train_dataloader',))
    message = str(err.value)
    for part in ("train_dataloader.dataset.dataset.data_root='data/cityscapes/' does not exist",
                 '--cfg-options train_dataloader.dataset.data_root=', 'make demo',
                 f"model.teacher_ckpt='{URL}'",
                 osp.join(str(tmp_path / 'hub'), 'checkpoints', osp.basename(URL))):
        assert part in message, (part, message)


def test_missing_files_under_an_existing_root(tmp_path):
    (tmp_path / 'train2017').mkdir()
    cfg = _cfg(str(tmp_path), ann_file='annotations/train.json',
               data_prefix=dict(img='train2017/', seg='stuff/'))
    with pytest.raises(FileNotFoundError) as err:
        check_data_paths(cfg, ('train_dataloader',))
    assert "ann_file='annotations/train.json'" in str(err.value)
    assert "data_prefix.seg='stuff/'" in str(err.value)
    assert 'train2017' not in str(err.value)


def test_present_data_and_remote_paths_pass(tmp_path):
    (tmp_path / 'img').mkdir()
    check_data_paths(_cfg(str(tmp_path), data_prefix=dict(img='img')), ('train_dataloader',))
    check_data_paths(_cfg('s3://bucket/cityscapes'), ('train_dataloader',))
    check_data_paths(Config(dict(model=dict())), ('train_dataloader', 'val_dataloader'))
