"""The distillation-gain protocol: one teacher, paired student arms, several seeds.

:func:`run_protocol` runs what ``tools/benchmark_kd_gain.py`` (and ``make demo``) report:

1. the synthetic dataset (:func:`ensure_data`; Cityscapes-format for mmseg students, scored by
   mIoU, COCO-format for mmdet students, scored by box AP): a training set with the report val
   set, and a *selection* val set drawn with another generator seed, for choosing
   hyper-parameters on data the reported numbers never see;
2. in the *pretrained regime* (``pretrain_iters > 0``), the stand-in for ImageNet weights: the
   teacher's and the student's configs trained once each on the *source* data (same generator,
   another seed and another appearance: other class colours and textures, or other colour ranges
   for the shapes; :func:`pretrain_backbone`), of which only the ``backbone.*`` weights are kept,
   as a real config's ``init_cfg=dict(type='Pretrained', ...)`` keeps ImageNet's; cached like the
   teacher. In the *scratch regime* (``pretrain_iters == 0``) every model starts from random
   weights;
3. the teacher, trained once from its initial weights (its pretrained backbone, if any) and cached
   by its resolved config, budget, seed, data and initial weights;
4. per seed, the student's initial weights (:func:`save_student_init`: the model's own
   initialisation at that seed with the pretrained backbone, if any), saved once;
5. per seed, every arm (the student alone and each distillation config) trained with
   ``tools/train.py --student-init`` from those weights at that seed, with the same budget: the
   arms of a seed see the same start, batches, augmentations and dropout masks
   (:class:`kdseg.engine.hooks.StudentInitHook`, :mod:`kdseg.engine.teacher_rng`); a
   self-distillation arm (FRSKD: no ``model.teacher_ckpt`` in its config) trains without the
   teacher;
6. every final student evaluated by ``tools/test.py`` with the *student's* config (a distiller
   checkpoint's ``architecture.*`` part), so all arms go through one metric path.

Every step is the command a user would type, run as a subprocess with its own runner and
registry scope; a step that finished at its budget is found in the work dir (its marker file,
written last, and its checkpoint's iteration) and not run again; an unfinished one (a killed
run) resumes from its last checkpoint, so an interrupted benchmark continues where it stopped
and never reports a half-trained model.
"""
import glob
import hashlib
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import set_random_seed

from ...datasets import generate_cityscapes, generate_coco

__all__ = ['TASKS', 'Protocol', 'ensure_data', 'pretrain_backbone', 'run_protocol',
           'save_student_init', 'step_time']

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # the checkout
STUDENT = 'student'  # the arm name of the student alone
NO_VAL = 10**9  # train_cfg.val_begin: evaluation is tools/test.py's, after training


@dataclass(frozen=True)
class Task:
    """A model family's data and score: the generator, the glob of a split's images (``{split}``
    is train or val), the metric (``metrics[key] * scale``, reported as ``metric``) and the
    evaluator's annotation file."""

    generate: Callable[..., Any]
    images: str
    metric: str
    key: str
    scale: float
    ann_file: str = ''


TASKS = {  # by the student config's default_scope
    'mmseg': Task(generate_cityscapes, 'leftImg8bit/{split}/*/*.png', 'mIoU', 'mIoU', 1.0),
    'mmdet': Task(generate_coco, '{split}2017/*', 'box AP', 'coco/bbox_mAP', 100.0,
                  'annotations/instances_val2017.json'),
}


@dataclass
class Protocol:
    """What one benchmark run trains and evaluates (see ``tools/benchmark_kd_gain.py``)."""

    teacher_config: str
    student_config: str
    methods: Dict[str, Tuple[str, List[str]]]  # arm name -> (distillation config, cfg-options)
    seeds: Sequence[int]
    teacher_iters: int
    student_iters: int
    work_dir: str
    data_root: str  # training images and the report val set
    select_root: str  # the selection val set (another generator seed)
    split: str = 'report'  # which val set the numbers are on: 'report' or 'select'
    teacher_seed: int = 0
    num_train: int = 400
    num_val: int = 200
    data_seed: int = 0
    cfg_options: List[str] = field(default_factory=list)  # for every student arm
    pretrain_iters: int = 0  # the pretraining stage's budget per backbone; 0: scratch regime
    source_root: str = ''  # the pretraining (source) data; default data_root + '_source'

    def __post_init__(self) -> None:
        if self.split not in ('report', 'select'):
            raise ValueError(f'split must be "report" or "select", got {self.split!r}')
        if STUDENT in self.methods:
            raise ValueError(f'{STUDENT!r} is the student-alone arm; name the method otherwise')
        if self.pretrain_iters < 0:
            raise ValueError(f'pretrain_iters must be 0 (scratch) or more, got '
                             f'{self.pretrain_iters}')
        if not self.source_root:
            self.source_root = self.data_root.rstrip('/') + '_source'
        if len(set(self.seeds)) != len(self.seeds) or not self.seeds:
            raise ValueError(f'seeds must be distinct and at least one, got {list(self.seeds)}')
        for what, path in [('teacher', self.teacher_config), ('student', self.student_config),
                           *((name, config) for name, (config, _) in self.methods.items())]:
            if not osp.isfile(path):
                raise FileNotFoundError(f'{what} config {path!r} does not exist')

    @property
    def eval_root(self) -> str:
        return self.data_root if self.split == 'report' else self.select_root

    @property
    def task(self) -> Task:
        scope = Config.fromfile(self.student_config).get('default_scope')
        if scope not in TASKS:
            raise ValueError(f'student config {self.student_config!r} has default_scope '
                             f'{scope!r}; the benchmark knows {sorted(TASKS)}')
        return TASKS[scope]


def ensure_data(p: Protocol) -> None:
    """Generate the training + report set, the selection set and (pretrained regime) the source
    set where they are missing; an existing set must hold the protocol's image counts (else
    ValueError naming the folder). The source set is ``num_train`` training images drawn with
    generator seed ``data_seed + 2`` and ``appearance='source'``; it has no val images."""
    task = p.task
    sets = [(p.data_root, p.num_train, p.num_val, p.data_seed, 'target', '--data-root'),
            (p.select_root, 0, p.num_val, p.data_seed + 1, 'target', '--select-root')]
    if p.pretrain_iters:
        sets.append((p.source_root, p.num_train, 0, p.data_seed + 2, 'source', '--source-root'))
    for root, num_train, num_val, seed, appearance, flag in sets:
        counts = {split: len(glob.glob(osp.join(root, task.images.format(split=split))))
                  for split in ('train', 'val')}
        if not any(counts.values()):
            task.generate(root, num_train, num_val, seed=seed, appearance=appearance)
        elif counts != dict(train=num_train, val=num_val):
            raise ValueError(f'{flag} {root!r} holds {counts["train"]} training and '
                             f'{counts["val"]} val images; this protocol needs {num_train} and '
                             f'{num_val} (--num-train, --num-val): remove the folder to '
                             f'regenerate it, or point {flag} elsewhere')


def _fingerprint(*parts: str) -> str:
    return hashlib.sha1('\n'.join(parts).encode()).hexdigest()[:8]


def _resolved(config: str) -> str:
    """A config with its bases merged, as text: the cache key of what it trains."""
    return json.dumps(Config.fromfile(config).to_dict(), sort_keys=True, default=str)


def run_step(cmd: List[str], log: str) -> None:
    """Run one step, its output in ``log``; on failure raise with the log's tail."""
    os.makedirs(osp.dirname(log), exist_ok=True)
    print('$ ' + ' '.join(cmd), flush=True)
    with open(log, 'w') as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'step failed (exit {done.returncode}), log {log}:\n{tail}')


def _data_options(task: Task, train_root: str, eval_root: str) -> List[str]:
    options = [f'train_dataloader.dataset.data_root={train_root}',
               f'val_dataloader.dataset.data_root={eval_root}',
               f'test_dataloader.dataset.data_root={eval_root}']
    if task.ann_file:  # mmdet's CocoMetric reads its own copy of the annotation path
        ann_file = osp.join(eval_root, task.ann_file)
        options += [f'val_evaluator.ann_file={ann_file}', f'test_evaluator.ann_file={ann_file}']
    return options


DONE = 'kd_gain_done.json'  # written last, after a training step finished at its budget


def checkpoint_iter(checkpoint: str) -> int:
    """The iteration a checkpoint was saved at (``meta.iter``, what mmengine's resume reads)."""
    from ...compat import safe_torch_load
    meta = safe_torch_load(checkpoint, map_location='cpu').get('meta') or {}
    if not isinstance(meta.get('iter'), int):
        raise ValueError(f'checkpoint {checkpoint!r} records no iteration (meta.iter)')
    return meta['iter']


def _finished(work_dir: str, iters: int) -> Optional[str]:
    """The final checkpoint of a step that finished at ``iters`` iterations, else None.

    A step counts as done only through the marker :data:`DONE`, written after tools/train.py
    exited 0 and its last checkpoint was found at the budget; a killed run has no marker."""
    try:
        with open(osp.join(work_dir, DONE)) as f:
            done = json.load(f)
    except (OSError, ValueError):
        return None
    checkpoint = done.get('checkpoint')
    if (done.get('iter') == iters and isinstance(checkpoint, str) and osp.isfile(checkpoint)
            and checkpoint_iter(checkpoint) == iters):
        return checkpoint
    return None


def _train(config: str, work_dir: str, iters: int, options: List[str],
           extra: Sequence[str] = ()) -> str:
    """tools/train.py for ``iters`` iterations unless ``work_dir`` holds the step's finished
    checkpoint (:func:`_finished`); an unfinished run there (killed, or stopped) is resumed from
    its last checkpoint. Returns the final checkpoint, whose iteration is ``iters``."""
    checkpoint = _finished(work_dir, iters)
    if checkpoint:
        return checkpoint
    record = osp.join(work_dir, 'last_checkpoint')
    resume = []
    if osp.isfile(record):
        with open(record) as f:
            if osp.isfile(f.read().strip()):
                resume = ['--resume']
    logged = f'default_hooks.logger.interval={min(10, iters)}'  # step_time needs a log line
    run_step([sys.executable, osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir',
              work_dir, '--iters', str(iters), *resume, *extra, '--cfg-options', logged,
              *options], osp.join(work_dir, 'train.log' if not resume else 'train_resumed.log'))
    with open(record) as f:
        checkpoint = f.read().strip()
    reached = checkpoint_iter(checkpoint)
    if reached != iters:
        raise RuntimeError(f'tools/train.py {config} exited 0, but its last checkpoint '
                           f'{checkpoint} is at iteration {reached}, not the budget {iters}')
    marker = osp.join(work_dir, DONE)
    with open(marker + '.tmp', 'w') as f:
        json.dump(dict(checkpoint=checkpoint, iter=reached), f)
    os.replace(marker + '.tmp', marker)
    return checkpoint


def step_time(work_dir: str) -> float:
    """Median seconds per training iteration that mmengine logged (``time`` in scalars.json),
    over the second half of training (warm-up and first-iteration costs left out); a run resumed
    in ``work_dir`` adds its iterations to those of the run it continued."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no vis_data/scalars.json under {work_dir}')
    times = {}  # iteration -> time; a resumed run's own record of an iteration wins
    for path in files:
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        times.update((r['iter'], r['time']) for r in rows if 'time' in r and 'iter' in r)
    if not times:
        raise ValueError(f'no scalars.json under {work_dir} logs an iteration time')
    last = max(times)
    return statistics.median(t for i, t in times.items() if i > last / 2)


def evaluate(task: Task, config: str, checkpoint: str, work_dir: str,
             eval_root: str) -> Dict[str, float]:
    """tools/test.py on ``eval_root``'s val set; returns mmengine's metrics dict (cached)."""
    result = osp.join(work_dir, 'metrics.json')
    if not osp.isfile(result):
        run_step([sys.executable, osp.join(ROOT, 'tools', 'test.py'), config, checkpoint,
                  '--work-dir', work_dir, '--cfg-options',
                  *_data_options(task, eval_root, eval_root)],
                 osp.join(work_dir, 'test.log'))
        found = sorted(glob.glob(osp.join(work_dir, '*', '*.json')))
        if not found:
            raise RuntimeError(f'tools/test.py wrote no metrics file under {work_dir}')
        with open(found[-1]) as f:
            metrics = json.load(f)
        with open(result, 'w') as f:
            json.dump(metrics, f)
    with open(result) as f:
        return json.load(f)


def save_student_init(config: str, seed: int, path: str, backbone: Optional[str] = None) -> str:
    """Build the model of ``config`` at ``seed``, initialise it as the runner would
    (``init_weights``), then, given a ``backbone`` checkpoint (:func:`pretrain_backbone`), load
    it into ``model.backbone`` strictly, as a config's ``init_cfg=dict(type='Pretrained')``
    would; save the state dict to ``path`` (kept if it exists)."""
    if not osp.isfile(path):
        cfg = Config.fromfile(config)
        init_default_scope(cfg.get('default_scope', 'mmseg'))
        set_random_seed(seed)
        model = MODELS.build(cfg.model)
        model.init_weights()
        if backbone:
            from ...engine import load_weights
            load_weights(model.backbone, backbone, key='--pretrain-iters',
                         what=f'the backbone of {config}')
        os.makedirs(osp.dirname(path), exist_ok=True)
        torch.save(dict(state_dict=model.state_dict(), meta=dict(config=config, seed=seed)),
                   path)
    return path


def _stem(config: str) -> str:
    return osp.splitext(osp.basename(config))[0]


BACKBONE = 'backbone.'


def pretrain_backbone(p: Protocol, config: str) -> str:
    """The pretraining stage for ``config``'s model: ``tools/train.py`` on the source data for
    ``p.pretrain_iters`` iterations (seed ``p.teacher_seed``, cached by the resolved config,
    budget, seed and source folder), then the ``backbone.*`` weights of its final checkpoint
    saved as ``backbone.pth`` next to it (the rest, neck and heads, is dropped: a model starts
    from it as from ImageNet weights). Returns that file."""
    from ...compat import safe_torch_load
    task = p.task
    key = _fingerprint(_resolved(config), str(p.pretrain_iters), str(p.teacher_seed),
                       osp.abspath(p.source_root))
    work_dir = osp.join(p.work_dir, 'pretrained',
                        f'{_stem(config)}_{p.pretrain_iters}it_seed{p.teacher_seed}_{key}')
    path = osp.join(work_dir, 'backbone.pth')
    if not osp.isfile(path):
        # the val keys point at the target's report set only to satisfy the config: pretraining
        # never evaluates (val_begin), the data check only reads it
        checkpoint = _train(config, work_dir, p.pretrain_iters,
                            _data_options(task, p.source_root, p.data_root) + [
                                f'train_cfg.val_begin={NO_VAL}',
                                f'randomness.seed={p.teacher_seed}'])
        weights = safe_torch_load(checkpoint, map_location='cpu')['state_dict']
        backbone = {k[len(BACKBONE):]: v for k, v in weights.items() if k.startswith(BACKBONE)}
        if not backbone:
            raise ValueError(f'{config}: its checkpoint {checkpoint} has no backbone.* weights '
                             'to pretrain with')
        torch.save(dict(state_dict=backbone, meta=dict(config=config, source=p.source_root,
                                                       iter=p.pretrain_iters)), path + '.tmp')
        os.replace(path + '.tmp', path)
    return path


def run_protocol(p: Protocol, log=print) -> Dict[str, object]:
    """Run (or find) every step of ``p``; returns ``dict(protocol, metric, teacher, runs)`` where
    each run is ``dict(method, config, options, seed, <metric>, metrics, step_time,
    checkpoint, iters)``; ``iters`` (the teacher's too) is the iteration its checkpoint was
    saved at, which a cached step must have reached (:func:`_finished`)."""
    task = p.task
    ensure_data(p)
    train_data = _data_options(task, p.data_root, p.data_root)
    no_val = [f'train_cfg.val_begin={NO_VAL}']

    backbones = {config: pretrain_backbone(p, config) if p.pretrain_iters else None
                 for config in (p.teacher_config, p.student_config)}
    regime = f'_pre{p.pretrain_iters}it' if p.pretrain_iters else ''
    teacher_init = []
    if p.pretrain_iters:
        teacher_init = ['--student-init', save_student_init(
            p.teacher_config, p.teacher_seed,
            osp.join(p.work_dir, 'inits', f'{_stem(p.teacher_config)}_seed{p.teacher_seed}'
                     f'{regime}_{_fingerprint(backbones[p.teacher_config])}.pth'),
            backbones[p.teacher_config])]
    key = _fingerprint(_resolved(p.teacher_config), str(p.teacher_iters), str(p.teacher_seed),
                       osp.abspath(p.data_root), *teacher_init)
    teacher_dir = osp.join(p.work_dir, 'teachers',
                           f'{_stem(p.teacher_config)}_{p.teacher_iters}it_seed{p.teacher_seed}'
                           f'{regime}_{key}')
    log(f'teacher: {teacher_dir}')
    teacher_ckpt = _train(p.teacher_config, teacher_dir, p.teacher_iters,
                          train_data + no_val + [f'randomness.seed={p.teacher_seed}'],
                          teacher_init)
    teacher_metrics = evaluate(task, p.teacher_config, teacher_ckpt,
                               osp.join(teacher_dir, f'test_{p.split}'), p.eval_root)

    arms = {STUDENT: (p.student_config, []), **p.methods}
    runs = []
    for seed in p.seeds:
        backbone = backbones[p.student_config]
        init = save_student_init(
            p.student_config, seed,
            osp.join(p.work_dir, 'inits', f'{_stem(p.student_config)}_seed{seed}' + (
                f'{regime}_{_fingerprint(backbone)}' if backbone else '') + '.pth'), backbone)
        for name, (config, variant) in arms.items():
            options = train_data + no_val + [f'randomness.seed={seed}', *p.cfg_options, *variant]
            if name != STUDENT and 'teacher_ckpt' in Config.fromfile(config).model:
                options.append(f'model.teacher_ckpt={teacher_ckpt}')  # not for self-distillation
            key = _fingerprint(_resolved(config), init, *options)
            folder = re.sub(r'[^\w.-]+', '_', name)
            work_dir = osp.join(p.work_dir, 'runs',
                                f'{folder}_{p.student_iters}it_seed{seed}{regime}_{key}')
            log(f'{name}, seed {seed}: {work_dir}')
            checkpoint = _train(config, work_dir, p.student_iters, options,
                                ['--student-init', init])
            metrics = evaluate(task, p.student_config, checkpoint,
                               osp.join(work_dir, f'test_{p.split}'), p.eval_root)
            runs.append({'method': name, 'config': config, 'options': variant, 'seed': seed,
                         task.metric: metrics[task.key] * task.scale, 'metrics': metrics,
                         'step_time': step_time(work_dir), 'checkpoint': checkpoint,
                         'iters': checkpoint_iter(checkpoint)})
    teacher = {'config': p.teacher_config, 'seed': p.teacher_seed, 'backbone': backbones[
               p.teacher_config],
               'iters': checkpoint_iter(teacher_ckpt),
               task.metric: teacher_metrics[task.key] * task.scale, 'metrics': teacher_metrics,
               'step_time': step_time(teacher_dir), 'checkpoint': teacher_ckpt}
    return dict(protocol={k: (list(v) if isinstance(v, tuple) else v)
                          for k, v in vars(p).items()},
                regime='pretrained' if p.pretrain_iters else 'scratch',
                student_backbone=backbones[p.student_config],
                metric=task.metric, teacher=teacher, runs=runs)
