"""The data are checked before iteration 1: each inconsistency names the file and the config key."""
import glob
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from conftest import ROOT
from kdseg.apis.cli import DataCheckError, check_data, check_data_paths
from kdseg.datasets import generate_cityscapes, generate_coco

SEG = osp.join(ROOT, 'configs', 'tat', 'demo', 'tat_pspnet_r50-narrow_r18-narrow_synthcity.py')
DET = osp.join(ROOT, 'configs', 'demo_models', 'faster-rcnn_r18-narrow_fpn_synthcoco.py')
LOADERS = ('train_dataloader', 'val_dataloader')


@pytest.fixture(scope='module')
def sources(tmp_path_factory):
    base = tmp_path_factory.mktemp('data_check')
    generate_cityscapes(str(base / 'city'), num_train=4, num_val=2, height=32, width=64, seed=0)
    generate_coco(str(base / 'coco'), num_train=3, num_val=2, height=48, width=64, seed=0)
    return base


def _config(path: str, root: str) -> Config:
    cfg = Config.fromfile(path)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = root
    if cfg.get('default_scope') == 'mmdet':
        for evaluator in ('val_evaluator', 'test_evaluator'):
            cfg[evaluator].ann_file = osp.join(root, 'annotations', 'instances_val2017.json')
    return cfg


@pytest.fixture
def city(sources, tmp_path):
    root = str(tmp_path / 'city')
    shutil.copytree(sources / 'city', root)
    return root


@pytest.fixture
def coco(sources, tmp_path):
    root = str(tmp_path / 'coco')
    shutil.copytree(sources / 'coco', root)
    return root


def _labels(root: str, split: str = 'train'):
    return sorted(glob.glob(osp.join(root, 'gtFine', split, '*', '*_labelTrainIds.png')))


def test_consistent_data_pass_and_say_what_was_checked(city, coco):
    lines = check_data(_config(SEG, city), LOADERS)
    assert lines == [
        'train_dataloader.dataset: 4 images and label maps exist, sizes agree (all), label ids '
        'in range (4 label maps decoded, spread over the set)',
        'val_dataloader.dataset: 2 images and label maps exist, sizes agree (all), label ids in '
        'range (2 label maps decoded, spread over the set)']
    lines = check_data(_config(DET, coco), LOADERS)
    assert len(lines) == 2 and lines[0].startswith('train_dataloader.dataset: 3 images exist')
    assert check_data(_config(SEG, city), LOADERS, sample=1)[0].endswith(
        '(1 label maps decoded, spread over the set)')


def test_a_label_id_out_of_range_names_the_file(city):
    path = _labels(city)[2]
    label = np.array(Image.open(path))
    label[0, :3] = 50  # 19 classes; 255 is the ignore index and stays legal
    label[1, 0] = 255
    Image.fromarray(label).save(path)
    with pytest.raises(DataCheckError) as err:
        check_data(_config(SEG, city), LOADERS)
    message = str(err.value)
    assert message.startswith(f"train_dataloader.dataset (data_root='{city}'): label ids outside "
                              'the 19 classes (0..18) and not an ignore_index of the model '
                              '([255])'), message
    assert f'{path} holds [50]' in message


def test_ignore_index_of_the_model_config_is_legal(city):
    path = _labels(city)[0]
    label = np.array(Image.open(path))
    label[0, 0] = 100
    Image.fromarray(label).save(path)
    cfg = _config(SEG, city)
    with pytest.raises(DataCheckError, match=r'holds \[100\]'):
        check_data(cfg, LOADERS)
    cfg.model.architecture.decode_head.ignore_index = 100
    check_data(cfg, LOADERS)


def test_a_label_map_of_another_size_names_both_files(city):
    path = _labels(city)[1]
    Image.open(path).resize((32, 16), Image.NEAREST).save(path)
    with pytest.raises(DataCheckError) as err:
        check_data(_config(SEG, city), LOADERS)
    message = str(err.value)
    assert 'label maps and images differ in size (W×H): ' in message
    assert f'{path} is 32×16, its image ' in message and ' 64×32' in message


def test_a_deleted_image_is_not_silently_dropped(city):
    label = _labels(city)[3]
    image = label.replace('gtFine', 'leftImg8bit', 1).replace('_gtFine_labelTrainIds',
                                                               '_leftImg8bit')
    os.remove(image)
    with pytest.raises(DataCheckError) as err:
        check_data(_config(SEG, city), LOADERS)
    message = str(err.value)
    assert 'label maps have no image' in message and label in message, message
    assert 'silently left out' in message


def _edit_coco(root: str, split: str, edit) -> str:
    path = osp.join(root, 'annotations', f'instances_{split}2017.json')
    with open(path) as f:
        index = json.load(f)
    edit(index)
    with open(path, 'w') as f:
        json.dump(index, f)
    return path


def test_an_empty_coco_annotation_list_names_the_file_and_key(coco):
    _edit_coco(coco, 'train', lambda index: index.update(annotations=[]))
    with pytest.raises(DataCheckError) as err:
        check_data(_config(DET, coco), LOADERS)
    assert str(err.value).startswith(
        "train_dataloader.dataset.ann_file='annotations/instances_train2017.json' ("
        f"{coco}/annotations/instances_train2017.json): its \"annotations\" list is empty")


def test_coco_missing_image_and_wrong_size_are_named(coco):
    def edit(index):
        index['images'][0]['width'] += 8
        index['images'][1]['file_name'] = 'gone.jpg'
    _edit_coco(coco, 'val', edit)
    with pytest.raises(DataCheckError) as err:
        check_data(_config(DET, coco), LOADERS)
    message = str(err.value)
    assert message.startswith("val_dataloader.dataset.ann_file='annotations/"
                              "instances_val2017.json'"), message
    assert f'images it names do not exist: {coco}/val2017/gone.jpg' in message
    assert 'image sizes differ from the annotation file (W×H)' in message
    assert 'the file records 72×48' in message


def test_classes_that_are_not_categories_are_named(coco):
    cfg = _config(DET, coco)
    cfg.train_dataloader.dataset.metainfo = dict(classes=('rectangle', 'circle'))
    with pytest.raises(DataCheckError, match=r"metainfo.classes names \['circle'\], which are "
                       'not categories'):
        check_data(cfg, ('train_dataloader',))


def test_the_evaluators_annotation_file_is_checked_with_the_paths(coco):
    cfg = _config(DET, coco)
    cfg.val_evaluator.ann_file = 'data/coco/annotations/instances_val2017.json'
    with pytest.raises(FileNotFoundError) as err:
        check_data_paths(cfg, LOADERS)
    assert "val_evaluator.ann_file='data/coco/annotations/instances_val2017.json' does not " \
        'exist' in str(err.value)
    assert '--cfg-options val_evaluator.ann_file=' in str(err.value)
    cfg.val_evaluator = dict(type='Evaluator', metrics=[dict(type='CocoMetric',
                                                             ann_file='missing.json')])
    with pytest.raises(FileNotFoundError, match=r"val_evaluator.metrics\[0\].ann_file="):
        check_data_paths(cfg, LOADERS)
