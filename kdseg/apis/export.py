"""Export the student of a distillation run as a plain mmseg/mmdet model (tools/export_student.py).

A distillation checkpoint holds the student under ``architecture.*`` next to what only training
needs: mmrazor's ``SingleTeacherDistill``/``FpnTeacherDistill`` keep ``teacher.*`` and
``distiller.*``, kdseg's FRSKD ``self_teacher.*``, ``self_teacher_head.*`` and
``distill_losses.*``. :func:`export_student` writes what a process without kdseg (and without
mmrazor) can use with ``mmseg.apis.init_model``/``mmdet.apis.init_detector``, ``tools/test.py`` of
mmseg/mmdet, or ``Runner(load_from=...)``:

* ``<name>_student.pth``: ``{'state_dict': <the student's weights, without the architecture.
  prefix>, 'meta': <plain Python values only>}``. It loads with ``torch.load(...,
  weights_only=True)`` and no allow-list (torch >= 2.6's default, which mmengine's own
  ``load_checkpoint`` uses): no HistoryBuffer, no numpy values, no optimizer or RNG state. The
  ``meta`` keeps ``dataset_meta`` (class names and palette, which ``init_model``/``init_detector``
  read), ``epoch``/``iter`` and where the weights came from.
* ``<name>_student.py``: the config with ``model.architecture`` as ``model``, everything else
  (data pipelines, dataloaders, evaluators, ``default_scope``, ``data_preprocessor``, hooks,
  runtime) kept, less what only distillation uses: mmrazor's distillation val loop becomes the
  plain ``ValLoop``, ``find_unused_parameters`` is dropped, and so is every hook whose type is
  kdseg's or mmrazor's (``DistillWarmupHook``, ``DistillRampHook``, kdseg's safety hooks), which a
  process without kdseg cannot build. Any other reference left to an mmrazor or kdseg type is an
  error naming its config key.

The source checkpoint is read like every kdseg checkpoint (weights_only=True with kdseg's
allow-list) and strictly (:func:`kdseg.engine.load_weights`): the student model is built from the
config and must take the checkpoint's ``architecture.*`` part (or the whole checkpoint) key for key
and shape for shape.

A plain (non-distillation) config is accepted too: its model is the student, the config is written
as it is (less kdseg/mmrazor hooks), and the checkpoint may be the model's own or a distillation
checkpoint of that student (its ``architecture.*`` part, as tools/test.py takes it).
"""
import copy
import datetime
import os
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, Registry, init_default_scope

from ..engine import load_weights

__all__ = ['export_student']

# keys of a checkpoint's meta worth keeping; the rest (cfg text, hook messages, seed, ...) is
# training state
META_KEYS = ('dataset_meta', 'epoch', 'iter', 'mmengine_version', 'experiment_name')
# mmrazor's loops that run a teacher; the plain mmengine loops replace them
PLAIN_LOOPS = {'val_cfg': 'ValLoop', 'test_cfg': 'TestLoop'}
DISTILL_ONLY_KEYS = ('find_unused_parameters', )


class ExportError(ValueError):
    """The config cannot be turned into a plain mmseg/mmdet one."""


def _plain(value: Any, where: str) -> Any:
    """``value`` as built-in Python types only (numpy scalars and arrays become numbers and
    lists); anything else raises, naming ``where``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        items = [_plain(v, f'{where}[{i}]') for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {str(k): _plain(v, f'{where}.{k}') for k, v in value.items()}
    raise ExportError(f'{where} is a {type(value).__name__}, not a plain Python value')


def _registries() -> List[Registry]:
    """Every mmengine root registry and all its children (mmdet, mmseg, mmrazor, ...)."""
    import mmengine.registry as root
    found, todo = [], [v for v in vars(root).values() if isinstance(v, Registry)]
    while todo:
        registry = todo.pop()
        found.append(registry)
        todo.extend(registry.children.values())
    return found


def _foreign_types() -> Set[str]:
    """Type names that only kdseg or mmrazor register (a process without them cannot build
    them): bare names, and ``mmrazor.`` ones."""
    foreign, plain = set(), set()
    for registry in _registries():
        for name, cls in registry.module_dict.items():
            module = getattr(cls, '__module__', '') or ''
            (foreign if module.split('.')[0] in ('kdseg', 'mmrazor') else plain).add(name)
    return foreign - plain


def _is_foreign(spec: Any, foreign: Set[str], scope: Optional[str]) -> bool:
    if not isinstance(spec, dict):
        return False
    kind = spec.get('type')
    scope = spec.get('_scope_', scope)
    if not isinstance(kind, str):
        return False
    prefix, _, name = kind.rpartition('.')
    return prefix in ('mmrazor', 'kdseg') or scope == 'mmrazor' or name in foreign


def _foreign_keys(value: Any, foreign: Set[str], where: str, scope: Optional[str]) -> List[str]:
    """Config keys under ``value`` that name an mmrazor or kdseg type, or the mmrazor scope."""
    found = []
    if isinstance(value, dict):
        scope = value.get('_scope_', scope)
        if _is_foreign(value, foreign, scope):
            found.append(f"{where} (type={value.get('type')!r}"
                         f"{', _scope_=' + repr(scope) if scope else ''})")
        for key, item in value.items():
            found += _foreign_keys(item, foreign, f'{where}.{key}' if where else key, scope)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found += _foreign_keys(item, foreign, f'{where}[{i}]', scope)
    return found


def student_config(cfg: Config) -> Tuple[Config, List[str]]:
    """The student's standalone config and a list of what was changed, in words."""
    data = copy.deepcopy(cfg.to_dict())
    changes = []
    model = data.get('model')
    if not isinstance(model, dict):
        raise ExportError('CONFIG has no `model` dict')
    if 'architecture' in model:
        student = model['architecture']
        if not isinstance(student, dict):
            raise ExportError('CONFIG: model.architecture must be a model config dict')
        if 'cfg_path' in student:
            raise ExportError(
                f"CONFIG: model.architecture is given by cfg_path={student['cfg_path']!r}; "
                'export_student needs the model dict itself (write the model into the config, '
                'e.g. `architecture=_base_.model`)')
        dropped = sorted(k for k in model if k not in ('architecture', '_scope_', 'type'))
        data['model'] = student
        changes.append(f"model = model.architecture (type={student.get('type')!r}); dropped "
                       f"model.{{{', '.join(dropped)}}} (type={model.get('type')!r})")
        if data.get('default_scope') in (None, 'mmrazor'):
            scope = student.get('_scope_')
            if scope is None:
                raise ExportError('CONFIG: neither default_scope nor model.architecture._scope_ '
                                  "names the student's package (mmseg or mmdet)")
            data['default_scope'] = scope
            changes.append(f'default_scope = {scope!r}')
    foreign = _foreign_types()
    scope = data.get('default_scope')
    for key, loop in PLAIN_LOOPS.items():
        if _is_foreign(data.get(key), foreign, scope):
            changes.append(f"{key}: {data[key].get('type')!r} -> {loop!r}")
            data[key] = dict(type=loop)
    for key in DISTILL_ONLY_KEYS:
        if key in data:
            changes.append(f'dropped {key}')
            del data[key]
    hooks = data.get('custom_hooks') or []
    kept = [h for h in hooks if not _is_foreign(h, foreign, scope)]
    if len(kept) != len(hooks):
        changes.append('dropped custom_hooks ' + ', '.join(
            repr(h.get('type')) for h in hooks if h not in kept))
        data['custom_hooks'] = kept
    default_hooks = data.get('default_hooks') or {}
    for name in [n for n, h in default_hooks.items() if _is_foreign(h, foreign, scope)]:
        changes.append(f"dropped default_hooks.{name} ({default_hooks[name].get('type')!r})")
        del default_hooks[name]
    left = _foreign_keys(data, foreign, '', scope)
    if left:
        raise ExportError('CONFIG: the student config would still name mmrazor or kdseg types, '
                          'which a process without kdseg cannot build: ' + '; '.join(left))
    return Config(data), changes


def _student_meta(meta: Any, config: str, checkpoint: str, cfg_text: str) -> Dict[str, Any]:
    meta = meta if isinstance(meta, dict) else {}
    plain = {k: _plain(meta[k], f'meta.{k}') for k in META_KEYS if k in meta}
    plain.update(exported_from=dict(config=osp.abspath(config), checkpoint=osp.abspath(checkpoint),
                                    time=datetime.datetime.now().isoformat(timespec='seconds')),
                 cfg=cfg_text)
    return plain


def export_student(config: str, checkpoint: str, out_dir: str,
                   cfg_options: Optional[dict] = None) -> Dict[str, Any]:
    """Write the student of ``checkpoint`` (trained with ``config``) into ``out_dir``.

    Returns a dict: ``config`` and ``checkpoint`` (the paths written), ``changes`` (what the
    config export changed, in words), ``num_tensors``, ``num_params``, ``distillation`` (whether
    ``config`` was a distillation config). See the module docstring.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'CONFIG {config!r} does not exist')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'CHECKPOINT {checkpoint!r} does not exist')
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise NotADirectoryError(f'--out-dir {out_dir!r} exists and is not a folder')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    distillation = isinstance(cfg.get('model'), dict) and 'architecture' in cfg.model
    student_cfg, changes = student_config(cfg)

    init_default_scope(student_cfg.get('default_scope', 'mmengine'))
    model = MODELS.build(student_cfg.model)
    source = load_weights(model, checkpoint, prefixes=('architecture.', ), key='CHECKPOINT',
                          what=f'the student of {config} (model'
                          f"{'.architecture' if distillation else ''})")
    state = OrderedDict((k, v.detach().cpu().clone()) for k, v in model.state_dict().items())

    name = osp.splitext(osp.basename(config))[0] + '_student'
    os.makedirs(out_dir, exist_ok=True)
    cfg_path, ckpt_path = osp.join(out_dir, name + '.py'), osp.join(out_dir, name + '.pth')
    student_cfg.dump(cfg_path)
    meta = _student_meta(source.get('meta') if isinstance(source, dict) else None, config,
                         checkpoint, student_cfg.pretty_text)
    tmp = ckpt_path + '.tmp'
    torch.save({'meta': meta, 'state_dict': state}, tmp)
    os.replace(tmp, ckpt_path)

    # what a process without kdseg will do: torch's own weights_only=True, no allow-list
    written = torch.serialization.load(ckpt_path, map_location='cpu', weights_only=True)
    assert list(written['state_dict']) == list(state), 'the written state dict differs'
    Config.fromfile(cfg_path)  # the dumped config parses
    return dict(config=cfg_path, checkpoint=ckpt_path, changes=changes,
                num_tensors=len(state), num_params=sum(p.numel() for p in model.parameters()),
                distillation=distillation)
