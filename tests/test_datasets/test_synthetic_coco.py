"""kdseg.datasets.synthetic_coco: the files are real COCO format, deterministic, annotations
are exact, and mmdet's dataset and metric read them."""
import json
from pathlib import Path
from typing import Dict

import cv2
import numpy as np
import pytest
import torch
from pycocotools.coco import COCO

import kdseg  # noqa: F401  (applies the compat fixes before mmdet is used)
from kdseg.datasets import SYNTHETIC_COCO_CLASSES, generate_coco, make_shapes_image

SIZE = dict(height=96, width=128)
NUM_TRAIN, NUM_VAL = 5, 4


def read_tree(root: Path) -> Dict[str, bytes]:
    """Every file under ``root`` by relative path, with its bytes."""
    return {str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob('*')) if path.is_file()}


@pytest.fixture(scope='module')
def root(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('synthetic_coco')
    generate_coco(path, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0, **SIZE)
    return path


def test_layout_and_file_names_follow_coco(root):
    expected = {'annotations/instances_train2017.json', 'annotations/instances_val2017.json'}
    expected |= {f'train2017/{i:012d}.jpg' for i in range(1, NUM_TRAIN + 1)}
    expected |= {f'val2017/{i:012d}.jpg' for i in range(1, NUM_VAL + 1)}
    assert set(read_tree(root)) == expected


def test_same_seed_gives_identical_bytes_and_another_seed_differs(root, tmp_path):
    generate_coco(tmp_path / 'again', num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0, **SIZE)
    generate_coco(tmp_path / 'other', num_train=NUM_TRAIN, num_val=NUM_VAL, seed=1, **SIZE)
    original = read_tree(root)
    assert read_tree(tmp_path / 'again') == original
    other = read_tree(tmp_path / 'other')
    assert other.keys() == original.keys()
    assert all(other[name] != original[name] for name in original)


def test_categories_images_and_annotation_fields(root):
    dataset = json.loads((root / 'annotations/instances_val2017.json').read_text())
    assert dataset['categories'] == [
        dict(id=i + 1, name=name, supercategory='shape')
        for i, name in enumerate(SYNTHETIC_COCO_CLASSES)]
    assert dataset['images'] == [
        dict(id=i, file_name=f'{i:012d}.jpg', height=SIZE['height'], width=SIZE['width'])
        for i in range(1, NUM_VAL + 1)]
    assert [ann['id'] for ann in dataset['annotations']] == list(
        range(1, len(dataset['annotations']) + 1))
    for ann in dataset['annotations']:
        assert set(ann) == {'id', 'image_id', 'category_id', 'bbox', 'area', 'segmentation',
                            'iscrowd'}
        assert ann['iscrowd'] == 0 and 1 <= ann['category_id'] <= len(SYNTHETIC_COCO_CLASSES)
        assert all(isinstance(v, float) for v in ann['bbox']) and isinstance(ann['area'], float)
        polygons = ann['segmentation']
        assert len(polygons) == 1 and len(polygons[0]) >= 6 and len(polygons[0]) % 2 == 0


def test_boxes_and_areas_are_exact_for_the_decoded_polygon_masks(root):
    for split in ('train', 'val'):
        coco = COCO(str(root / f'annotations/instances_{split}2017.json'))
        for image_id in coco.getImgIds():
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
            assert 1 <= len(anns) <= 6
            union = np.zeros((SIZE['height'], SIZE['width']), np.int32)
            for ann in anns:
                mask = coco.annToMask(ann)
                rows, cols = np.nonzero(mask)
                x, y = cols.min(), rows.min()
                assert ann['bbox'] == [x, y, cols.max() + 1 - x, rows.max() + 1 - y]
                assert ann['area'] == mask.sum()
                union += mask
            assert union.max() == 1  # instances never overlap


def test_images_are_rgb_jpegs_and_not_flat(root):
    for path in root.glob('*2017/*.jpg'):
        image = cv2.imread(str(path))
        assert image.shape == (SIZE['height'], SIZE['width'], 3)
        assert image.std() > 10


def test_make_shapes_image_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match='at least 32'):
        make_shapes_image(rng, height=20, width=64)
    with pytest.raises(ValueError, match='max_instances'):
        make_shapes_image(rng, max_instances=0)


def test_existing_data_is_kept_unless_overwrite(tmp_path):
    generate_coco(tmp_path, num_train=2, num_val=1, **SIZE)
    with pytest.raises(FileExistsError, match='overwrite'):
        generate_coco(tmp_path, num_train=1, num_val=1, **SIZE)
    generate_coco(tmp_path, num_train=1, num_val=1, overwrite=True, **SIZE)
    assert len(list(tmp_path.glob('train2017/*.jpg'))) == 1


def test_mmdet_coco_dataset_loads_and_gt_scores_full_ap(root):
    from mmdet.datasets import CocoDataset
    from mmdet.evaluation import CocoMetric
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope
    register_all_modules(init_default_scope=False)
    ann_file = str(root / 'annotations/instances_val2017.json')
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = CocoDataset(
            data_root=str(root), ann_file='annotations/instances_val2017.json',
            data_prefix=dict(img='val2017/'), metainfo=dict(classes=SYNTHETIC_COCO_CLASSES),
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                      dict(type='PackDetInputs')])
    assert len(dataset) == NUM_VAL
    assert dataset.metainfo['classes'] == SYNTHETIC_COCO_CLASSES
    samples = []
    for index in range(len(dataset)):
        packed = dataset[index]
        assert packed['inputs'].shape == (3, SIZE['height'], SIZE['width'])
        gt = packed['data_samples'].gt_instances
        masks = torch.from_numpy(gt.masks.to_ndarray()).bool()
        assert masks.shape[1:] == (SIZE['height'], SIZE['width'])
        sample = packed['data_samples'].to_dict()
        sample['pred_instances'] = dict(bboxes=gt.bboxes.tensor, labels=gt.labels, masks=masks,
                                        scores=torch.ones(len(gt.labels)))
        samples.append(sample)
    metric = CocoMetric(ann_file=ann_file, metric=['bbox', 'segm'])
    metric.dataset_meta = dataset.metainfo
    metric.process({}, samples)
    results = metric.evaluate(len(dataset))
    assert results['coco/bbox_mAP'] > 0.95
    assert results['coco/segm_mAP'] > 0.95


def test_source_appearance_keeps_the_shapes_and_swaps_the_colour_ranges():
    target = make_shapes_image(np.random.default_rng(5))
    source = make_shapes_image(np.random.default_rng(5), appearance='source')
    assert [(i.category_id, i.polygon) for i in target.instances] == \
        [(i.category_id, i.polygon) for i in source.instances]
    inside = np.any([i.mask for i in target.instances], axis=0).astype(bool)

    def saturation(image, where):
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        return hsv[..., 1][where].mean()
    # target: vivid shapes on a muted backdrop; source: the other way round
    assert saturation(target.image, inside) > saturation(target.image, ~inside)
    assert saturation(source.image, inside) < saturation(source.image, ~inside)
    with pytest.raises(ValueError, match='appearance must be one of'):
        make_shapes_image(np.random.default_rng(5), appearance='imagenet')
