"""Every config under configs/ builds its model; every demo config trains a step offline.

What these catch, which no other test would until a run fails: a config whose model no longer
builds (a renamed key in an mmdet/mmseg base, a kdseg loss that is not registered), a distillation
config whose student or teacher lost its ``_scope_``, a demo config that would download weights or
needs CUDA (SyncBN), a teacher checkpoint that loads into nothing (mmengine's ``load_checkpoint``
is not strict, so a key mismatch only warns), and demo class counts out of step with the data.
"""
import ast
import copy
import functools
import glob
import math
import os
import os.path as osp
import re
from typing import Any, List

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import Runner, save_checkpoint
from torch import nn

from conftest import CONFIGS
import kdseg  # compat fixes; registers kdseg components
import kdseg.registry
from kdseg.datasets import SYNTHETIC_COCO_CLASSES, generate_cityscapes, generate_coco

DOWNLOAD_MARKERS = ('http://', 'https://', 'open-mmlab://', 'torchvision://', 'mmcls://')


def _defines_model(path: str) -> bool:
    """Whether a config file assigns ``model`` at top level (``_base_`` data/schedule fragments
    do not; the real-scale distillation shells under ``_base_/distill`` do)."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    return any(
        isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == 'model' for t in node.targets)
        for node in tree.body)


def _config_files() -> List[str]:
    files = sorted(glob.glob(osp.join(CONFIGS, '**', '*.py'), recursive=True))
    return [f for f in files if '_base_' not in f.split(osp.sep) or _defines_model(f)]


ALL_CONFIGS = _config_files()
# The CPU-sized teachers and students (plain mmdet/mmseg models), and every method's demo twins
# (configs/<method>/demo/): the configs that must run as they are on a CPU without network.
DEMO_MODELS = [f for f in ALL_CONFIGS if osp.dirname(f) == osp.join(CONFIGS, 'demo_models')]
DEMO_TWINS = [f for f in ALL_CONFIGS if osp.basename(osp.dirname(f)) == 'demo'
              and osp.dirname(osp.dirname(osp.dirname(f))) == CONFIGS]
DEMO_CONFIGS = DEMO_MODELS + DEMO_TWINS
# the twins that distil from a teacher checkpoint (not the self-distillation ones: FRSKD)
TEACHER_TWINS = [f for f in DEMO_TWINS if osp.basename(osp.dirname(osp.dirname(f))) != 'frskd']
# One folder per method; each must keep real-scale configs and CPU-sized demo twins. Taken from
# the methods kdseg declares (kdseg.registry), not globbed, so that a method whose folder or
# configs vanish fails the collection test.
METHODS = tuple(kdseg.registry.METHODS)


def _ids(files: List[str]) -> List[str]:
    return [osp.relpath(f, CONFIGS) for f in files]


@pytest.fixture(scope='module', autouse=True)
def _offline_and_fast():
    """Fail fast, naming the URL, if a build would download weights (there is no network, and
    a download would hang until a timeout); read mmdet's/mmseg's metafiles once (mmengine
    re-reads all ~150 YAML files, ~0.35 s, for every ``mmdet::``/``mmseg::`` base); one thread."""
    import mmengine.config.utils as config_utils
    import mmengine.runner.checkpoint as checkpoint

    def no_download(url, *args, **kwargs):
        raise AssertionError(f'building this config downloads {url}; configs must build offline '
                             'once teacher_ckpt/pretrained/init_cfg are switched off')

    read = functools.lru_cache(maxsize=None)(config_utils.load)

    def load(file, *args, **kwargs):
        if isinstance(file, str) and file.endswith(('.yml', '.yaml')) and not args and not kwargs:
            return read(file)
        return read.__wrapped__(file, *args, **kwargs)

    # One intra-op thread: these models are tiny, and on a busy 2-core machine two OpenMP threads
    # made this module ~6x slower (170 s against 27 s) while the other thread waited for a core.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpoint, 'load_url', no_download)
        patch.setattr(config_utils, 'load', load)
        yield
    torch.set_num_threads(threads)


@functools.lru_cache(maxsize=None)
def _parse(path: str) -> Config:
    return Config.fromfile(path)


def _load(path: str) -> Config:
    """A fresh copy of the parsed config (parsing resolves mmdet::/mmseg:: bases: slow)."""
    return copy.deepcopy(_parse(path))


def _walk(node: Any, path: str = 'model'):
    """Yield (key path, dict) for every dict in a nested config."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _walk(value, f'{path}[{i}]')


def _make_offline(model_cfg: ConfigDict) -> ConfigDict:
    """Drop everything that would load weights: teacher checkpoints, ``pretrained`` and
    ``Pretrained`` inits. A ``cfg_path`` teacher keeps ``pretrained=False`` (mmengine.hub)."""
    for _, node in _walk(model_cfg):
        if 'teacher_ckpt' in node:
            node['teacher_ckpt'] = None
        if 'pretrained' in node:
            node['pretrained'] = False if 'cfg_path' in node else None
        init_cfg = node.get('init_cfg')
        inits = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
        if any(isinstance(i, dict) and (i.get('type') == 'Pretrained' or 'checkpoint' in i)
               for i in inits):
            node['init_cfg'] = None
    return model_cfg


def _build(cfg: Config) -> nn.Module:
    """Build ``cfg.model`` (already made offline) exactly as the Runner does: a top-level
    ``data_preprocessor`` fills in a model that has none (an mmrazor algorithm), the default scope
    picks the package, and a ``_scope_`` key (mmrazor for distillation) overrides it."""
    model_cfg = cfg.model
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    return MODELS.build(model_cfg)


def _is_distill(cfg: Config) -> bool:
    """A teacher-student distiller, or a self-distillation (FRSKD: a self-teacher, no teacher)."""
    return 'architecture' in cfg.model and ('teacher' in cfg.model or 'self_teacher' in cfg.model)


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=_ids(ALL_CONFIGS))
def test_config_builds_its_model(path):
    cfg = _load(path)
    _make_offline(cfg.model)
    model = _build(cfg)
    assert isinstance(model, nn.Module)
    assert sum(p.numel() for p in model.parameters()) > 0
    if not _is_distill(cfg):
        return
    assert cfg.model.get('_scope_') == 'mmrazor', 'distillation models are mmrazor algorithms'
    if 'teacher' in cfg.model:
        assert model.student is not model.teacher
        assert not any(p.requires_grad for p in model.teacher.parameters()), 'teacher frozen'
        assert any(p.requires_grad for p in model.student.parameters())
        assert cfg.val_cfg.type.endswith('SingleTeacherDistillValLoop')
    else:  # self-distillation: the self-teacher trains with the student, validated alone
        assert any(p.requires_grad for p in model.architecture.parameters())
        assert all(p.requires_grad for p in model.self_teacher.parameters())
        assert not cfg.val_cfg.get('type', 'ValLoop').endswith('DistillValLoop')
    # the algorithm preprocesses every batch: it must do what the student's own preprocessor
    # does (crop-size padding, mask padding, ...)
    ours, student = model.data_preprocessor, model.architecture.data_preprocessor
    assert type(ours) is type(student)
    for attr in ('size', 'size_divisor', 'pad_size_divisor', 'pad_val', 'pad_value',
                 'seg_pad_val', 'pad_mask', 'pad_seg', '_channel_conversion'):
        assert getattr(ours, attr, None) == getattr(student, attr, None), attr
    assert torch.equal(ours.mean, student.mean) and torch.equal(ours.std, student.std)


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=_ids(ALL_CONFIGS))
def test_every_l2_loss_states_normalize(path):
    """mmrazor's L2Loss scales each sample's features to unit norm unless told otherwise (its
    default normalize=True), so a config meaning the plain L2 distance (CWT's) would train another
    loss without a word. Every L2Loss a config names must say which one it means."""
    for key, node in _walk(_parse(path).model):
        if str(node.get('type')).split('.')[-1] == 'L2Loss':
            assert 'normalize' in node, f'{key}: state normalize=False (plain L2) or True'


def _method_folders() -> List[str]:
    return sorted(d for d in os.listdir(CONFIGS) if osp.isdir(osp.join(CONFIGS, d))
                  and d not in ('_base_', 'demo_models') and not d.startswith(('.', '__')))


@pytest.mark.parametrize('method', sorted(set(METHODS) | set(_method_folders())))
def test_every_method_folder_has_real_scale_configs_and_demo_twins(method):
    """configs/<method>/ holds its real-scale configs, configs/<method>/demo/ their CPU-sized twins,
    all named {method}_{teacher}_{student}_... ({method}_{student}_... for self-distillation; a
    variant of the method as one hyphenated token, mmdet-style: frskd-seg_...), all collected by
    the tests above."""
    folder = osp.join(CONFIGS, method)
    real = [f for f in ALL_CONFIGS if osp.dirname(f) == folder]
    demo = [f for f in DEMO_TWINS if osp.dirname(f) == osp.join(folder, 'demo')]
    assert real, f'no real-scale config collected under configs/{method}/'
    assert demo, f'no demo twin collected under configs/{method}/demo/'
    for path in real + demo:
        assert re.match(rf'{re.escape(method)}(-[a-z0-9]+)?_', osp.basename(path)), path
        assert _is_distill(_load(path)), f'{path} is not a distillation config'


def test_every_family_of_configs_was_collected():
    names = {osp.relpath(f, CONFIGS) for f in ALL_CONFIGS}
    assert {
        'pspnet_r18_tat.py',
        'demo_models/pspnet_r50-narrow_synthcity.py', 'demo_models/pspnet_r18-narrow_synthcity.py',
        'demo_models/faster-rcnn_r50-narrow_fpn_synthcoco.py',
        'demo_models/faster-rcnn_r18-narrow_fpn_synthcoco.py',
        'demo_models/mask-rcnn_r50-narrow_fpn_synthcoco.py',
        'demo_models/mask-rcnn_r18-narrow_fpn_synthcoco.py',
        '_base_/distill/pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py',
        '_base_/distill/faster-rcnn_r101_faster-rcnn_r50_2x_coco.py',
        '_base_/distill/mask-rcnn_r101_mask-rcnn_r50_2x_coco.py',
        '_base_/distill/pspnet_r50-narrow_pspnet_r18-narrow_synthcity.py',
        '_base_/distill/faster-rcnn_r50-narrow_faster-rcnn_r18-narrow_synthcoco.py',
        '_base_/distill/mask-rcnn_r50-narrow_mask-rcnn_r18-narrow_synthcoco.py',
    } <= names
    assert set(METHODS) <= set(_method_folders())
    assert not any('/_base_/datasets/' in f for f in ALL_CONFIGS), 'data fragments have no model'


@pytest.mark.parametrize('path', DEMO_CONFIGS, ids=_ids(DEMO_CONFIGS))
def test_demo_config_is_offline_and_cpu_only(path):
    """Demo configs run as they are on a CPU machine without network: no pretrained inits or
    download URLs, no SyncBN, a fixed seed and an iteration budget."""
    cfg = _load(path)
    for key, node in _walk(cfg.model):
        for name, value in node.items():
            if isinstance(value, str):
                assert not value.startswith(DOWNLOAD_MARKERS), f'{key}.{name} = {value!r}'
        assert node.get('type') != 'SyncBN', f'{key}: SyncBN needs CUDA; use BN'
        init_cfg = node.get('init_cfg')
        assert not (isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'), key
        assert not node.get('pretrained'), f'{key}.pretrained must be None (random init)'
    assert cfg.randomness.seed == 0
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.default_hooks.checkpoint.by_epoch is False


def test_synthetic_coco_classes_are_written_once_and_match_the_generator():
    cfg = _load(osp.join(CONFIGS, '_base_', 'datasets', 'synthetic_coco_detection.py'))
    assert tuple(cfg.classes) == SYNTHETIC_COCO_CLASSES
    for path in DEMO_CONFIGS:
        if 'synthcoco' not in path:
            continue
        cfg = _load(path)
        assert tuple(cfg.train_dataloader.dataset.metainfo.classes) == SYNTHETIC_COCO_CLASSES
        heads = [(k, n['num_classes']) for k, n in _walk(cfg.model) if 'num_classes' in n]
        assert heads, path
        assert all(n == len(SYNTHETIC_COCO_CLASSES) for _, n in heads), heads


@pytest.fixture(scope='module')
def synthetic_data(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp('configs_data')
    generate_cityscapes(root / 'synthetic_cityscapes', num_train=4, num_val=2, seed=0)
    generate_coco(root / 'synthetic_coco', num_train=4, num_val=2, seed=0)
    return str(root)


def _point_at(cfg: Config, data_root: str) -> Config:
    """Make the config read the data under ``data_root`` (the configs' roots are relative)."""
    name = 'synthetic_coco' if 'synthcoco' in cfg.filename else 'synthetic_cityscapes'
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = osp.join(data_root, name)
    return cfg


@pytest.mark.parametrize('path', DEMO_CONFIGS, ids=_ids(DEMO_CONFIGS))
def test_demo_config_trains_a_step_and_predicts(path, synthetic_data):
    """One optimiser step on a real batch of the config's own pipeline, then prediction."""
    cfg = _point_at(_load(path), synthetic_data)
    torch.manual_seed(0)
    _make_offline(cfg.model)
    model = _build(cfg)
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader, seed=0)))
    frozen = model.teacher if 'teacher' in cfg.model else None  # FRSKD has no teacher
    if frozen is not None:
        teacher_before = [p.detach().clone() for p in frozen.parameters()]

    model.train()
    log_vars = model.train_step(batch, optim_wrapper)
    assert 'loss' in log_vars
    assert all(math.isfinite(float(torch.as_tensor(v).detach())) for v in log_vars.values()), \
        log_vars
    if _is_distill(cfg):
        assert any(k.startswith('distill.') for k in log_vars), log_vars
        assert any(k.startswith('student.') for k in log_vars), log_vars
    if frozen is not None:
        assert all(torch.equal(a, b) for a, b in zip(teacher_before, frozen.parameters()))

    model.eval()
    val_batch = next(iter(Runner.build_dataloader(cfg.val_dataloader, seed=0)))
    samples = model.val_step(val_batch)
    assert len(samples) == cfg.val_dataloader.batch_size
    assert 'pred_sem_seg' in samples[0] or 'pred_instances' in samples[0]


@pytest.mark.parametrize('path', TEACHER_TWINS, ids=_ids(TEACHER_TWINS))
def test_demo_teacher_ckpt_is_where_training_its_teacher_config_saves(path):
    """The default ``model.teacher_ckpt`` of a demo twin is ``work_dirs/<teacher config
    name>/iter_<its max_iters>.pth`` (what ``tools/train.py`` writes) of a configs/demo_models/
    config whose model is exactly the twin's teacher."""
    cfg = _load(path)
    match = re.fullmatch(r'work_dirs/([^/]+)/iter_(\d+)\.pth', cfg.model.teacher_ckpt)
    assert match, cfg.model.teacher_ckpt
    teacher_path = osp.join(CONFIGS, 'demo_models', match[1] + '.py')
    assert teacher_path in DEMO_MODELS, cfg.model.teacher_ckpt
    teacher = _load(teacher_path)
    assert teacher.train_cfg.max_iters == int(match[2])
    assert teacher.model.to_dict() == cfg.model.teacher.to_dict()


@pytest.mark.parametrize('path', TEACHER_TWINS, ids=_ids(TEACHER_TWINS))
def test_demo_distill_loads_teacher_checkpoint_and_keeps_it(path, tmp_path):
    """``model.teacher_ckpt`` (what tools/demo.py overrides) loads every teacher weight, through
    kdseg's weights_only loader, and the Runner's ``init_weights`` does not overwrite it."""
    cfg = _load(path)
    _make_offline(cfg.model)
    init_default_scope(cfg.default_scope)
    teacher = MODELS.build(cfg.model.teacher)  # a trained teacher run saves this architecture
    ckpt = str(tmp_path / 'teacher.pth')
    # what the Runner writes: state_dict plus meta with numpy scalars (needs the allow-list)
    save_checkpoint({'meta': {'seed': np.int64(0), 'iter': 1}, 'state_dict': teacher.state_dict()},
                    ckpt)

    cfg.model.teacher_ckpt = ckpt
    model = _build(cfg)
    model.init_weights()
    loaded = model.teacher.state_dict()
    assert loaded.keys() == teacher.state_dict().keys()
    for key, value in teacher.state_dict().items():
        assert torch.equal(loaded[key], value), f'teacher weight {key} was not loaded or was reset'
