"""The whole training step of every method, in-process, against the student alone and the teacher.

For a distillation config, three timings on one synthetic batch (random weights; nothing is
read from disk or downloaded), each the median over ``steps`` after ``warmup`` steps:

* the distillation step: ``model.train_step`` of the distiller (teacher forward, student forward
  and backward, the distillation losses, the optimizer step);
* the student alone: ``train_step`` of ``model.architecture`` built on its own, with the same
  optimizer settings;
* the teacher's forward: what the distiller runs of it, without gradients (the whole teacher
  and its losses for ``SingleTeacherDistill``, backbone and neck for ``FpnTeacherDistill``);
  none for self-distillation (FRSKD).

The ratio distillation ÷ (student + teacher forward) is the overhead of the distillation itself
(the connectors, losses and their backward): 1.0 would be free. Synthetic batches: uint8 images
of the given size; for mmseg a random label map, for mmdet three random boxes per image.
"""
import copy
import statistics
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import InstanceData, PixelData

__all__ = ['method_configs', 'synthetic_batch', 'time_config']


def synthetic_batch(scope: str, batch: int, size: Tuple[int, int], num_classes: int,
                    seed: int = 0) -> dict:
    """A dataloader-like batch (``inputs``: uint8 CHW images, ``data_samples``) for an mmseg or
    mmdet model, images of ``size`` = (H, W)."""
    gen = torch.Generator().manual_seed(seed)
    height, width = size
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, height, width), generator=gen,
                                    dtype=torch.uint8))
        meta = dict(img_shape=size, ori_shape=size, pad_shape=size, scale_factor=(1.0, 1.0),
                    flip=False)
        if scope == 'mmseg':
            from mmseg.structures import SegDataSample
            sample = SegDataSample(metainfo=meta)
            sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, height, width),
                                                             generator=gen))
        else:
            from mmdet.structures import DetDataSample
            sample = DetDataSample(metainfo=meta)
            corner = torch.rand(3, 2, generator=gen) * torch.tensor([width, height]) * 0.6
            extent = (torch.rand(3, 2, generator=gen) * 0.3 + 0.1) * torch.tensor([width, height])
            sample.gt_instances = InstanceData(
                bboxes=torch.cat([corner, corner + extent], 1),
                labels=torch.randint(0, num_classes, (3, ), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _median_time(step: Callable[[], object], steps: int, warmup: int, device: str) -> float:
    times = []
    for index in range(warmup + steps):
        if device == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device == 'cuda':
            torch.cuda.synchronize()
        if index >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _build(model_cfg, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(copy.deepcopy(model_cfg)))  # SyncBN needs DDP
    model.to(device)
    model.train()  # (mmrazor's distillers' train() returns None)
    return model


def _num_classes(model: torch.nn.Module) -> int:
    for module in model.modules():
        if type(module).__name__.endswith('Head') and isinstance(
                getattr(module, 'num_classes', None), int) and 'RPN' not in type(module).__name__:
            return module.num_classes
    raise ValueError(f'{type(model).__name__} has no head with num_classes')


def time_config(config: str, size: Tuple[int, int], batch: int = 2, steps: int = 5,
                warmup: int = 2, device: str = 'cpu',
                log: Optional[Callable[[str], None]] = None) -> Dict[str, float]:
    """The three timings of one distillation config (module docstring): ``distill``,
    ``student``, ``teacher_forward`` (seconds) and ``ratio``."""
    cfg = Config.fromfile(config)
    scope = cfg.get('default_scope', 'mmseg')
    init_default_scope(scope)
    model_cfg = cfg.model
    if 'teacher_ckpt' in model_cfg:
        model_cfg.teacher_ckpt = None  # random weights: the time is the same
    if cfg.get('data_preprocessor') is not None:  # as the Runner gives it
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
        model_cfg.architecture.setdefault('data_preprocessor', cfg.data_preprocessor)
    distiller = _build(model_cfg, device)
    student = _build(model_cfg.architecture, device)
    data = synthetic_batch(scope, batch, size, _num_classes(student))
    timings: Dict[str, float] = {}
    for name, model in (('student', student), ('distill', distiller)):
        optim_wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
        timings[name] = _median_time(lambda m=model, o=optim_wrapper: m.train_step(data, o),
                                     steps, warmup, device)
        if log:
            log(f'{config}: {name} step {timings[name]:.4f} s')
    teacher = getattr(distiller, 'teacher', None)
    if teacher is None:
        timings['teacher_forward'] = 0.0
    else:
        inputs = distiller.data_preprocessor(data, True)

        def forward() -> None:
            with torch.no_grad():
                if type(distiller).__name__.endswith('FpnTeacherDistill'):
                    teacher.extract_feat(inputs['inputs'])
                else:
                    teacher(inputs['inputs'], inputs['data_samples'], mode='loss')

        timings['teacher_forward'] = _median_time(forward, steps, warmup, device)
    timings['ratio'] = timings['distill'] / (timings['student'] + timings['teacher_forward'])
    return timings


def method_configs(configs_root: str, scale: str) -> List[Tuple[str, str]]:
    """(method name, config) for every declared method's PSPNet and Faster R-CNN configs, the
    real-scale ones (``scale='real'``) or their CPU-sized demo twins (``'demo'``)."""
    import glob
    import os.path as osp

    from ...registry import METHODS
    found = []
    for method in METHODS.values():
        folder = osp.join(configs_root, method.key, 'demo' if scale == 'demo' else '')
        for family in ('pspnet', 'faster-rcnn'):
            found += [(method.name, path) for path in sorted(glob.glob(
                osp.join(folder, f'{method.key}_*{family}*.py')))]
    return found
