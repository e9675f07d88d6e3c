"""Check the data a config names before iteration 1, naming the file and the config key.

Without it a label id out of range died in iteration 1 as ``IndexError: Target 50 is out of
bounds`` (no file named), an empty COCO ``annotations`` list as ``ValueError: need at least one
array to concatenate``, and a label map of half its image's size, or a training image deleted
from disk (7 of 8 used), trained silently. :func:`check_data` looks at what is cheap to look at:

* segmentation (mmseg ``BaseSegDataset`` subclasses, listed exactly as mmseg lists them): every
  image and label map the index names exists; every label map under the label folder has its
  image; image and label sizes agree (read from the file headers, every pair); label ids, after
  the dataset's ``reduce_zero_label`` and ``label_map``, are class indices or an ``ignore_index``
  of the model (decoded on ``sample`` label maps spread evenly over the set, all when fewer);
* COCO-format detection (mmdet ``CocoDataset`` subclasses): the annotation file has
  annotations and categories, every class of the dataset's ``metainfo`` is a category, every image
  it names exists, and the sizes it records match the files' headers.

Measured on a Cityscapes-sized set (2975 + 500 image/label pairs of 2048×1024): see
docs/benchmarks.md ("data check"). ``tools/train.py --skip-data-check`` turns it off for sets too
large to look at on every start.
"""
import json
import os
import os.path as osp
from typing import Any, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import DATASETS, DefaultScope
from PIL import Image

from .preflight import walk_datasets

__all__ = ['DataCheckError', 'check_data']

SAMPLE = 32  # label maps decoded per segmentation dataset
SHOWN = 3  # files named per problem


class DataCheckError(ValueError):
    """The data a config names is inconsistent: a missing file, a size or label-id mismatch."""


def _problem(what: str, files: Sequence[str]) -> str:
    shown = '; '.join(files[:SHOWN]) + (f'; ... ({len(files)} in all)' if len(files) > SHOWN
                                        else '')
    return f'{what}: {shown}'


def _spread(n: int, k: int) -> List[int]:
    """``min(n, k)`` indices spread evenly over ``range(n)`` (no random draw: the run's random
    streams stay untouched)."""
    return list(range(n)) if n <= k else [int(i * n / k) for i in range(k)]


def _size(path: str) -> Tuple[int, int]:
    with Image.open(path) as image:  # reads the header only
        return image.size


def _ignore_indices(model: Any) -> Set[int]:
    """Every ``ignore_index`` the model config sets (decode heads, their losses), else 255."""
    found: Set[int] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == 'ignore_index' and isinstance(value, int):
                    found.add(value)
                walk(value)
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item)

    walk(model)
    return found or {255}


def _dataset_class(dataset: dict) -> Optional[type]:
    kind = dataset.get('type')
    if isinstance(kind, type):
        return kind
    if not isinstance(kind, str):
        return None
    with DATASETS.switch_scope_and_registry(dataset.get('_scope_')) as registry:
        return registry.get(kind)


def _subclass(cls: Optional[type], module: str, name: str) -> bool:
    try:
        base = getattr(__import__(module, fromlist=[name]), name)
    except ImportError:
        return False
    return isinstance(cls, type) and issubclass(cls, base)


def _check_segmentation(key: str, dataset: dict, ignore: Set[int], sample: int) -> str:
    built = DATASETS.build(dict(dataset, pipeline=[], serialize_data=False, lazy_init=False))
    infos = [built.get_data_info(i) for i in range(len(built))]
    problems = []
    if not infos:
        problems.append(f'it lists no image under {built.data_prefix.get("img_path")!r} with '
                        f'suffix {built.img_suffix!r}')
    missing = [i['img_path'] for i in infos if not osp.isfile(i['img_path'])]
    if missing:
        problems.append(_problem('images named by the index do not exist', missing))
    unlabelled = [i['seg_map_path'] for i in infos if not osp.isfile(i['seg_map_path'])]
    if unlabelled:
        problems.append(_problem('label maps do not exist', unlabelled))
    ann_dir = built.data_prefix.get('seg_map_path')
    if not built.ann_file and ann_dir and osp.isdir(ann_dir):
        listed = {osp.normpath(i['seg_map_path']) for i in infos}
        orphans = sorted(
            osp.join(folder, name) for folder, _, names in os.walk(ann_dir) for name in names
            if name.endswith(built.seg_map_suffix)
            and osp.normpath(osp.join(folder, name)) not in listed)
        if orphans:
            img_dir = built.data_prefix.get('img_path')
            problems.append(_problem(
                f'label maps have no image (missing under {img_dir!r} with suffix '
                f'{built.img_suffix!r}; deleted?), so their samples would be silently left out',
                orphans))
    pairs = [i for i in infos if osp.isfile(i['img_path']) and osp.isfile(i['seg_map_path'])]
    sizes = [(i, _size(i['img_path']), _size(i['seg_map_path'])) for i in pairs]
    wrong = [f'{i["seg_map_path"]} is {label[0]}×{label[1]}, its image {i["img_path"]} '
             f'{image[0]}×{image[1]}' for i, image, label in sizes if image != label]
    if wrong:
        problems.append(_problem('label maps and images differ in size (W×H)', wrong))
    num_classes = len(built.metainfo['classes'])
    checked = _spread(len(pairs), sample)
    bad_ids = []
    for index in checked:
        info = pairs[index]
        ids = _label_ids(info)
        out = sorted(int(v) for v in ids if v >= num_classes and int(v) not in ignore)
        if out:
            bad_ids.append(f'{info["seg_map_path"]} holds {out[:6]}')
    if bad_ids:
        problems.append(_problem(
            f'label ids outside the {num_classes} classes (0..{num_classes - 1}) and not an '
            f'ignore_index of the model ({sorted(ignore)})', bad_ids))
    if problems:
        raise DataCheckError(f'{key} (data_root={dataset.get("data_root")!r}): ' +
                             '. '.join(problems) + '.')
    return (f'{key}: {len(infos)} images and label maps exist, sizes agree (all), label ids in '
            f'range ({len(checked)} label maps decoded, spread over the set)')


def _label_ids(info: dict) -> np.ndarray:
    """The distinct ids of a label map as mmseg's LoadAnnotations gives them to the model."""
    with Image.open(info['seg_map_path']) as image:
        label = np.asarray(image)
    if label.ndim != 2:
        raise DataCheckError(f'{info["seg_map_path"]} is not a single-channel label map '
                             f'(shape {label.shape})')
    ids = np.unique(label).astype(np.int64)
    if info.get('reduce_zero_label'):
        ids = np.where(ids == 0, 255, ids - 1)
        ids = np.where(ids == 254, 255, ids)
    label_map = info.get('label_map')
    if label_map:
        ids = np.array([label_map.get(int(v), int(v)) for v in ids])
    return np.unique(ids)


def _check_coco(key: str, dataset: dict) -> str:
    root = dataset.get('data_root') or ''
    ann_file = osp.join(root, dataset.get('ann_file', ''))
    prefix = (dataset.get('data_prefix') or {}).get('img', '')
    img_dir = osp.join(root, prefix)
    with open(ann_file) as f:
        index = json.load(f)
    problems = []
    for field in ('images', 'annotations', 'categories'):
        if not index.get(field):
            problems.append(f'its "{field}" list is empty or missing')
    names = {c.get('name') for c in index.get('categories') or []}
    classes = (dataset.get('metainfo') or {}).get('classes') or \
        _dataset_class(dataset).METAINFO.get('classes', ())
    unknown = [c for c in classes if c not in names]
    if unknown and names:
        problems.append(f'{key}.metainfo.classes names {unknown[:6]}, which are not categories '
                        f'of the file ({sorted(map(str, names))[:6]}): their boxes would be '
                        'dropped')
    images = index.get('images') or []
    missing = [osp.join(img_dir, i['file_name']) for i in images
               if not osp.isfile(osp.join(img_dir, i['file_name']))]
    if missing:
        problems.append(_problem('images it names do not exist', missing))
    wrong = []
    for image in images:
        path = osp.join(img_dir, image['file_name'])
        if osp.isfile(path):
            size = _size(path)
            if size != (image.get('width'), image.get('height')):
                wrong.append(f'{path} is {size[0]}×{size[1]}, the file records '
                             f'{image.get("width")}×{image.get("height")}')
    if wrong:
        problems.append(_problem('image sizes differ from the annotation file (W×H)', wrong))
    if problems:
        raise DataCheckError(f'{key}.ann_file={dataset.get("ann_file")!r} ({ann_file}): ' +
                             '. '.join(problems) + '.')
    return (f'{key}: {len(images)} images exist with the sizes {ann_file} records, '
            f'{len(index["annotations"])} annotations')


def _leaves(cfg: Config, loaders: Sequence[str]) -> Iterator[Tuple[str, dict]]:
    for loader in loaders:
        yield from walk_datasets(f'{loader}.dataset', (cfg.get(loader) or {}).get('dataset'))


def check_data(cfg: Config, loaders: Sequence[str], sample: int = SAMPLE) -> List[str]:
    """Check the datasets of ``loaders`` (e.g. ``('train_dataloader', 'val_dataloader')``)
    as the module docstring says; returns one line per dataset checked, raises
    :class:`DataCheckError` naming the key and the files. Datasets of other types (and
    wrappers, whose inner datasets are checked) are skipped; a dataset shared by two loaders
    is checked once."""
    lines, seen = [], []
    ignore = _ignore_indices(cfg.get('model'))
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        for key, dataset in _leaves(cfg, loaders):
            if dataset in seen:
                continue
            seen.append(dataset)
            cls = _dataset_class(dataset)
            if _subclass(cls, 'mmseg.datasets', 'BaseSegDataset'):
                lines.append(_check_segmentation(key, dataset, ignore, sample))
            elif _subclass(cls, 'mmdet.datasets', 'CocoDataset'):
                lines.append(_check_coco(key, dataset))
    for line in lines:
        print_log(f'data check: {line}', logger='current')
    return lines
