"""kdseg.datasets.synthetic_cityscapes: the files are real Cityscapes format, deterministic, and
mmseg's dataset and metrics read them."""
from pathlib import Path
from typing import Dict

import cv2
import numpy as np
import pytest
import torch

import kdseg  # noqa: F401  (applies the compat fixes before mmseg is used)
from kdseg.datasets.synthetic_cityscapes import APPEARANCES
from kdseg.datasets import (CITYSCAPES_CLASSES, CITYSCAPES_LABELS, IGNORE_INDEX,
                            generate_cityscapes, make_street_scene, train_ids_to_label_ids)

SIZE = dict(height=64, width=128)
NUM_TRAIN, NUM_VAL = 4, 3


def read_tree(root: Path) -> Dict[str, bytes]:
    """Every file under ``root`` by relative path, with its bytes."""
    return {str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob('*')) if path.is_file()}


@pytest.fixture(scope='module')
def root(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('synthetic_cityscapes')
    generate_cityscapes(path, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0, **SIZE)
    return path


def label_maps(root: Path, suffix: str):
    """(path, array) of every ``*_gtFine_<suffix>.png`` under ``root``, unchanged depth."""
    for path in sorted(root.glob(f'gtFine/*/*/*_gtFine_{suffix}.png')):
        yield path, cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_layout_and_file_names_follow_cityscapes(root):
    expected = set()
    for split, count, cities in (('train', NUM_TRAIN, ('alphaburg', 'betaheim', 'gammastadt')),
                                 ('val', NUM_VAL, ('deltadorf', 'epsilonfeld'))):
        for index in range(count):
            city = cities[index % len(cities)]
            stem = f'{city}_{index // len(cities):06d}_000019'
            expected.add(f'leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png')
            for kind in ('labelTrainIds', 'labelIds', 'instanceIds', 'color'):
                expected.add(f'gtFine/{split}/{city}/{stem}_gtFine_{kind}.png')
    assert set(read_tree(root)) == expected


def test_same_seed_gives_identical_bytes_and_another_seed_differs(root, tmp_path):
    generate_cityscapes(tmp_path / 'again', num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0, **SIZE)
    generate_cityscapes(tmp_path / 'other', num_train=NUM_TRAIN, num_val=NUM_VAL, seed=1, **SIZE)
    original = read_tree(root)
    assert read_tree(tmp_path / 'again') == original
    other = read_tree(tmp_path / 'other')
    assert other.keys() == original.keys()
    assert all(other[name] != original[name] for name in original if 'leftImg8bit' in name)


def test_images_are_rgb_and_not_flat(root):
    for path in root.glob('leftImg8bit/*/*/*.png'):
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert image.shape == (SIZE['height'], SIZE['width'], 3) and image.dtype == np.uint8
        assert image.std() > 20


def test_train_ids_are_valid_and_scenes_hold_many_classes(root):
    present = set()
    for _, train_ids in label_maps(root, 'labelTrainIds'):
        assert train_ids.shape == (SIZE['height'], SIZE['width']) and train_ids.dtype == np.uint8
        values = set(np.unique(train_ids).tolist())
        assert values <= set(range(19)) | {IGNORE_INDEX}
        assert len(values - {IGNORE_INDEX}) >= 5
        present |= values
    assert {'road', 'sidewalk', 'building', 'sky', 'car'} <= {
        CITYSCAPES_CLASSES[i] for i in present - {IGNORE_INDEX}}
    assert len(present - {IGNORE_INDEX}) >= 8


def test_label_ids_instance_ids_and_colours_agree_with_train_ids(root):
    by_train_id = {label.train_id: label for label in CITYSCAPES_LABELS}
    for path, train_ids in label_maps(root, 'labelTrainIds'):
        stem = str(path)[:-len('labelTrainIds.png')]
        label_ids = cv2.imread(stem + 'labelIds.png', cv2.IMREAD_UNCHANGED)
        instance_ids = cv2.imread(stem + 'instanceIds.png', cv2.IMREAD_UNCHANGED)
        colours = cv2.cvtColor(cv2.imread(stem + 'color.png'), cv2.COLOR_BGR2RGB)
        for train_id in np.unique(train_ids):
            mask = train_ids == train_id
            label = by_train_id.get(int(train_id))
            expected_id = 0 if label is None else label.label_id  # ignore is 'unlabeled'
            expected_colour = (0, 0, 0) if label is None else label.color
            assert (label_ids[mask] == expected_id).all()
            assert (colours[mask] == expected_colour).all()
            if label is not None and label.has_instances:
                assert (instance_ids[mask] // 1000 == label.label_id).all()
            else:
                assert (instance_ids[mask] == expected_id).all()
        np.testing.assert_array_equal(label_ids, train_ids_to_label_ids(train_ids))


def test_label_table_is_mmsegs_cityscapes_table():
    from mmseg.datasets import CityscapesDataset
    assert CITYSCAPES_CLASSES == tuple(CityscapesDataset.METAINFO['classes'])
    assert [list(label.color) for label in CITYSCAPES_LABELS] == [
        list(colour) for colour in CityscapesDataset.METAINFO['palette']]
    assert [label.train_id for label in CITYSCAPES_LABELS] == list(range(19))


def test_make_street_scene_rejects_tiny_images():
    with pytest.raises(ValueError, match='at least 32'):
        make_street_scene(np.random.default_rng(0), height=16, width=128)


def test_existing_data_is_kept_unless_overwrite(tmp_path):
    generate_cityscapes(tmp_path, num_train=3, num_val=0, **SIZE)
    with pytest.raises(FileExistsError, match='overwrite'):
        generate_cityscapes(tmp_path, num_train=1, num_val=0, **SIZE)
    generate_cityscapes(tmp_path, num_train=1, num_val=0, overwrite=True, **SIZE)
    assert len(list(tmp_path.glob('leftImg8bit/train/*/*.png'))) == 1


def build_val_dataset(root: Path):
    """mmseg's CityscapesDataset on the generated val split, with a standard test pipeline."""
    from mmengine.registry import DefaultScope
    from mmseg.datasets import CityscapesDataset
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmseg'):
        return CityscapesDataset(
            data_root=str(root),
            data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
            pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                      dict(type='PackSegInputs')])


def ground_truth_as_predictions(dataset):
    """Data samples whose prediction is the ground truth, as a segmentor would output them."""
    samples = []
    for index in range(len(dataset)):
        sample = dataset[index]['data_samples'].to_dict()
        sample['pred_sem_seg'] = dict(data=sample['gt_sem_seg']['data'].clone())
        samples.append(sample)
    return samples


def test_mmseg_cityscapes_dataset_loads_and_gt_scores_full_miou(root):
    from mmseg.evaluation import IoUMetric
    dataset = build_val_dataset(root)
    assert len(dataset) == NUM_VAL
    packed = dataset[0]
    assert packed['inputs'].shape == (3, SIZE['height'], SIZE['width'])
    gt = packed['data_samples'].gt_sem_seg.data
    assert gt.shape == (1, SIZE['height'], SIZE['width']) and gt.dtype == torch.int64
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = dataset.metainfo
    metric.process({}, ground_truth_as_predictions(dataset))
    assert metric.evaluate(len(dataset))['mIoU'] == pytest.approx(100.0)


def test_mmseg_cityscapes_metric_reads_label_and_instance_ids(root, tmp_path):
    from mmseg.evaluation import CityscapesMetric
    dataset = build_val_dataset(root)
    metric = CityscapesMetric(output_dir=str(tmp_path / 'preds'))
    metric.dataset_meta = dataset.metainfo
    metric.process({}, ground_truth_as_predictions(dataset))
    results = metric.evaluate(len(dataset))
    assert results['averageScoreCategories'] == pytest.approx(1.0)
    assert results['averageScoreInstCategories'] == pytest.approx(1.0)


def test_source_appearance_keeps_the_scene_and_changes_every_class_look():
    target = make_street_scene(np.random.default_rng(5))
    source = make_street_scene(np.random.default_rng(5), appearance='source')
    assert np.array_equal(target.train_ids, source.train_ids)
    assert np.array_equal(target.instance_ids, source.instance_ids)
    assert np.abs(target.image.astype(int) - source.image).mean() > 10
    for train_id, look in APPEARANCES['target'].items():
        other = APPEARANCES['source'][train_id]
        assert other.rgb != look.rgb and other.texture != look.texture, train_id
    with pytest.raises(ValueError, match="appearance must be one of \\['source', 'target'\\]"):
        make_street_scene(np.random.default_rng(5), appearance='imagenet')
