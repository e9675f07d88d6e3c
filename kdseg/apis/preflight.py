"""Say what is missing before a run starts: dataset folders, and where a checkpoint URL leads.

Without this, ``python tools/train.py configs/pspnet_r18_tat.py`` on a machine without Cityscapes
or network ended in a bare ``URLError`` (the teacher download) or a dataset ``FileNotFoundError``
deep in mmengine.
"""
import os.path as osp
from typing import Any, Iterator, List, Sequence, Tuple

import torch
from mmengine.config import Config

__all__ = ['check_data_paths']


def _datasets(key: str, dataset: Any) -> Iterator[Tuple[str, dict]]:
    """(config key, dataset dict), through wrappers (RepeatDataset, ConcatDataset, ...)."""
    if not isinstance(dataset, dict):
        return
    yield key, dataset
    yield from _datasets(f'{key}.dataset', dataset.get('dataset'))
    for i, inner in enumerate(dataset.get('datasets') or []):
        yield from _datasets(f'{key}.datasets[{i}]', inner)


def _local(path: Any) -> bool:
    return isinstance(path, str) and bool(path) and '://' not in path


def _missing(key: str, dataset: dict) -> List[str]:
    root = dataset.get('data_root')
    if _local(root) and not osp.isdir(root):
        return [f'{key}.data_root={root!r} does not exist']
    paths = [('ann_file', dataset.get('ann_file'))]
    prefix = dataset.get('data_prefix')
    if isinstance(prefix, dict):
        paths += [(f'data_prefix.{k}', v) for k, v in prefix.items()]
    missing = []
    for name, path in paths:
        if _local(path):
            full = path if osp.isabs(path) or not _local(root) else osp.join(root, path)
            if not osp.exists(full):
                missing.append(f'{key}.{name}={path!r} ({full}) does not exist')
    return missing


def _teacher_note(cfg: Config) -> str:
    url = cfg.get('model', {}).get('teacher_ckpt')
    if not isinstance(url, str) or '://' not in url:
        return ''
    cached = osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(url))
    if osp.isfile(cached):
        return ''
    return (f' Also: model.teacher_ckpt={url!r} is downloaded at start-up; without network, '
            f'download it elsewhere and put it at {cached}, or pass a local file with '
            '--cfg-options model.teacher_ckpt=/path/to/teacher.pth.')


def check_data_paths(cfg: Config, loaders: Sequence[str]) -> None:
    """Raise FileNotFoundError listing every missing dataset folder or file of ``loaders``
    (e.g. ``('train_dataloader', 'val_dataloader')``), with what to do about it."""
    missing = []
    for loader in loaders:
        for key, dataset in _datasets(f'{loader}.dataset', (cfg.get(loader) or {}).get('dataset')):
            missing += [m for m in _missing(key, dataset) if m not in missing]
    if missing:
        raise FileNotFoundError(
            'The dataset is not where the config says: ' + '; '.join(missing) + '. Put it there '
            '(relative paths are relative to the working directory), or point the config at it, '
            'e.g. --cfg-options train_dataloader.dataset.data_root=/data/cityscapes/ '
            'val_dataloader.dataset.data_root=/data/cityscapes/; or run kdseg on its built-in '
            'synthetic data with `make demo` (configs/demo_models/, configs/<method>/demo/).' +
            _teacher_note(cfg))
