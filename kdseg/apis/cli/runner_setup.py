"""Turn command-line flags into mmengine config changes, shared by tools/train.py and test.py.

Every function takes and returns an mmengine ``Config`` and touches only the keys it names, so a
user's own config stays in charge of everything else.
"""
import os.path as osp
import warnings
from typing import Optional

from mmengine.config import Config

from .budget import set_iteration_budget

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def load_config(path: str, work_dir: Optional[str] = None, cfg_options: Optional[dict] = None,
                launcher: str = 'none', iters: Optional[int] = None) -> Config:
    """Load ``path``, apply ``--iters`` (:func:`set_iteration_budget`), merge ``--cfg-options``
    (so an explicit key wins over the budget), and set ``launcher`` and ``work_dir``.

    ``work_dir`` priority follows mmdet/mmseg: command line, then the config, then
    ``./work_dirs/<config name>``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path!r} does not exist')
    if launcher not in LAUNCHERS:
        raise ValueError(f'--launcher must be one of {LAUNCHERS}, got {launcher!r}')
    cfg = Config.fromfile(path)
    if iters is not None:
        set_iteration_budget(cfg, iters)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    if 'model' not in cfg:
        raise KeyError(f'config {path!r} has no `model` key')
    return cfg


# kdseg.engine.hooks, added to every training run by tools/train.py
SAFETY_HOOKS = ('ConfigCheckHook', 'NaNGuardHook', 'RNGStateHook')


def add_safety_hooks(cfg: Config) -> Config:
    """Add kdseg's safety hooks to ``custom_hooks``: ConfigCheckHook (config checked against data
    and model before iteration 1), NaNGuardHook (stop at the first non-finite loss or weight,
    before a checkpoint) and RNGStateHook (exact resume). A hook the config already lists, with
    its own arguments, is kept as it is."""
    hooks = list(cfg.get('custom_hooks') or [])
    present = {hook.get('type') for hook in hooks}
    cfg.custom_hooks = hooks + [dict(type=t) for t in SAFETY_HOOKS if t not in present]
    return cfg


def skip_teacher_ckpt(cfg: Config) -> Config:
    """When testing a distiller's own checkpoint, do not load ``model.teacher_ckpt`` as well.

    The checkpoint already holds the teacher (``teacher.*`` weights); loading the teacher's
    original checkpoint first would only cost time, or fail where it is not at hand.
    """
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = None
    return cfg


def set_student_init(cfg: Config, checkpoint: str) -> Config:
    """``--student-init CKPT``: add ``StudentInitHook`` (kdseg.engine.hooks): the student (the
    model, or a distiller's ``model.architecture``) starts from ``CKPT`` and every generator from
    the run's seed, so a distilled run and a student-alone run given the same ``CKPT`` and seed
    start alike, draw the same batches and augmentations, and differ only by the distillation."""
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'--student-init checkpoint {checkpoint!r} does not exist')
    hooks = [h for h in (cfg.get('custom_hooks') or []) if h.get('type') != 'StudentInitHook']
    cfg.custom_hooks = hooks + [dict(type='StudentInitHook', checkpoint=checkpoint)]
    return cfg


def enable_amp(cfg: Config, cuda: Optional[bool] = None) -> Config:
    """``--amp``: mixed precision. With CUDA, mmengine's ``AmpOptimWrapper`` (float16, dynamic
    loss scale); without, kdseg's ``AutocastOptimWrapper`` (bfloat16 on the CPU, no loss scaler:
    mmengine's wrapper asserts a GPU): the whole forward for mmseg configs; for mmdet configs the
    backbones and necks only (``modules``), since mmcv's CPU nms and RoIAlign kernels take
    float32 only. ``cuda`` defaults to ``torch.cuda.is_available()``.
    """
    import torch
    if 'optim_wrapper' not in cfg:
        raise KeyError('--amp needs an `optim_wrapper` in the config')
    if cuda is None:
        cuda = torch.cuda.is_available()
    if cuda:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    else:
        cfg.optim_wrapper.type = 'AutocastOptimWrapper'
        cfg.optim_wrapper.dtype = 'bfloat16'
        cfg.optim_wrapper.pop('loss_scale', None)
        if cfg.get('default_scope') == 'mmdet':
            # mmcv 2.1.0's CPU nms and RoIAlign take float32 only: the backbones and necks
            # (most of a detector's time) run in bfloat16, the heads in float32
            cfg.optim_wrapper.modules = ['backbone', 'neck']
    return cfg


def set_resume(cfg: Config, resume: Optional[str]) -> Config:
    """``--resume`` (latest checkpoint of work_dir) or ``--resume PATH``.

    ``--resume`` in a work dir without a checkpoint trains from iteration 0; mmengine only logs
    "Auto resumed from the latest checkpoint None", so this warns that nothing is resumed. A
    ``last_checkpoint`` record naming a file that is gone fails, naming both."""
    if resume == 'auto':
        record = osp.join(cfg.work_dir, 'last_checkpoint')
        if not osp.isfile(record):
            warnings.warn(f'--resume: the work dir {cfg.work_dir!r} holds no checkpoint (no '
                          f'{record} record), so NOTHING IS RESUMED: training starts from '
                          'iteration 0. Pass --work-dir of the run to continue, or --resume '
                          'CKPT.', stacklevel=2)
        else:
            with open(record) as f:
                latest = f.read().strip()
            if not osp.isfile(latest):
                raise FileNotFoundError(f'--resume: {record} names {latest!r}, which does not '
                                        'exist; pass --resume CKPT with a checkpoint that does')
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        if not osp.isfile(resume):
            raise FileNotFoundError(f'--resume checkpoint {resume!r} does not exist')
        cfg.resume = True
        cfg.load_from = resume
    return cfg


def enable_show_dir(cfg: Config, show_dir: str) -> Config:
    """``--show-dir DIR``: draw every test prediction into ``DIR/vis_data/vis_image/``, for
    segmentation and detection alike, each file named after its image.

    mmseg's SegVisualizationHook draws through the visualizer, whose ``save_dir`` is set to DIR
    (files ``test_<image>_0.png``); mmdet's DetVisualizationHook writes to ``test_out_dir``, which
    it joins to the log folder unless absolute, so it gets that same folder as an absolute path
    (files ``<image>``).
    """
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise KeyError('--show-dir needs `default_hooks.visualization` in the config '
                       '(DetVisualizationHook or SegVisualizationHook)')
    hook['draw'] = True
    hook['interval'] = 1
    show_dir = osp.abspath(show_dir)
    cfg.visualizer['save_dir'] = show_dir
    if hook.get('type', '').endswith('DetVisualizationHook'):
        hook['test_out_dir'] = osp.join(show_dir, 'vis_data', 'vis_image')
    return cfg


def enable_dump(cfg: Config, out: str) -> Config:
    """``--out``: also pickle the raw test predictions to ``out`` for offline evaluation."""
    if not out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out must be a .pkl or .pickle file, got {out!r}')
    dump = dict(type='mmdet.DumpDetResults' if cfg.get('default_scope') == 'mmdet' else
                'DumpResults', out_file_path=out)
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, (list, tuple)):
        cfg.test_evaluator = [*evaluator, dump]
    elif evaluator.get('type') == 'Evaluator':
        evaluator['metrics'] = [*evaluator['metrics'], dump]
    else:
        cfg.test_evaluator = [evaluator, dump]
    return cfg


def cpu_distributed(cfg: Config) -> Config:
    """``--launcher pytorch`` (torchrun, tools/dist_*.sh) on a machine without CUDA, through
    mmengine's own options (ENVIRONMENT.md item 6): mmengine's launcher calls
    ``torch.cuda.set_device`` and its default DDP wrapper passes ``device_ids=[LOCAL_RANK]``,
    which a CPU module cannot take. So, only when CUDA is absent:

    * the gloo process group is started here, from torchrun's environment (``env://``), before
      the Runner, which then sees an initialised group and skips its own ``init_dist``;
    * ``model_wrapper_cfg`` (unless the config sets one) is mmengine's
      ``MMDistributedDataParallel`` with ``device_ids=None``, ``broadcast_buffers=False`` and the
      config's ``find_unused_parameters``, as mmengine's default wrapper otherwise is.

    A no-op for other launchers and wherever CUDA is available.
    """
    import torch
    import torch.distributed as dist
    if cfg.get('launcher') != 'pytorch' or torch.cuda.is_available():
        return cfg
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo', init_method='env://')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    return cfg
