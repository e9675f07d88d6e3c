"""Say what is missing before a run starts: dataset folders and files, evaluators' annotation
files, and where a checkpoint URL leads.

Without this, ``python tools/train.py configs/pspnet_r18_tat.py`` on a machine without Cityscapes
or network ended in a bare ``URLError`` (the teacher download) or a dataset ``FileNotFoundError``
deep in mmengine.
"""
import os.path as osp
from typing import Any, Iterator, List, Sequence, Tuple

import torch
from mmengine.config import Config

__all__ = ['check_data_paths', 'walk_datasets']


def walk_datasets(key: str, dataset: Any) -> Iterator[Tuple[str, dict]]:
    """(config key, dataset dict), through wrappers (RepeatDataset, ConcatDataset, ...)."""
    if not isinstance(dataset, dict):
        return
    yield key, dataset
    yield from walk_datasets(f'{key}.dataset', dataset.get('dataset'))
    for i, inner in enumerate(dataset.get('datasets') or []):
        yield from walk_datasets(f'{key}.datasets[{i}]', inner)


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


def _evaluator_files(key: str, evaluator: Any) -> List[str]:
    """The missing ``ann_file`` of an evaluator (a metric dict, a list of them, or mmengine's
    ``Evaluator`` dict with ``metrics``): mmdet's CocoMetric reads its own copy of the path,
    which overriding a dataset's ``data_root`` does not change."""
    if isinstance(evaluator, (list, tuple)):
        return [m for i, e in enumerate(evaluator) for m in _evaluator_files(f'{key}[{i}]', e)]
    if not isinstance(evaluator, dict):
        return []
    if 'metrics' in evaluator:
        return _evaluator_files(f'{key}.metrics', evaluator['metrics'])
    path = evaluator.get('ann_file')
    if _local(path) and not osp.exists(path):
        return [f'{key}.ann_file={path!r} does not exist (the evaluator reads it itself: set '
                f'--cfg-options {key}.ann_file=/path/to/annotations.json along with the '
                'data_root)']
    return []


def check_data_paths(cfg: Config, loaders: Sequence[str]) -> None:
    """Raise FileNotFoundError listing every missing dataset folder or file of ``loaders``
    (e.g. ``('train_dataloader', 'val_dataloader')``), and every missing annotation file of
    their evaluators (``val_evaluator``, ``test_evaluator``), with what to do about it."""
    missing = []
    for loader in loaders:
        for key, dataset in walk_datasets(f'{loader}.dataset',
                                          (cfg.get(loader) or {}).get('dataset')):
            missing += [m for m in _missing(key, dataset) if m not in missing]
        evaluator = loader.replace('_dataloader', '_evaluator')
        if evaluator != loader:
            missing += [m for m in _evaluator_files(evaluator, cfg.get(evaluator))
                        if m not in missing]
    if missing:
        raise FileNotFoundError(
            'The dataset is not where the config says: ' + '; '.join(missing) + '. Put it there '
            '(relative paths are relative to the working directory), or point the config at it, '
            'e.g. --cfg-options train_dataloader.dataset.data_root=/data/cityscapes/ '
            'val_dataloader.dataset.data_root=/data/cityscapes/; or run kdseg on its built-in '
            'synthetic data with `make demo` (configs/demo_models/, configs/<method>/demo/).' +
            _teacher_note(cfg))
