"""Build mmrazor's own distillation algorithms and configs, with or without ``import kdseg``.

    python tests/upstream_builds.py {plain|kdseg} {algorithms|configs|attributes} OUT.json

Run by tests/test_extend_not_patch.py in fresh interpreters, once without kdseg (mmrazor's
quantization package is stubbed first, as kdseg.compat does, since it does not import on
torch 2.x; nothing else of kdseg is loaded) and once after ``import kdseg``; the test compares
the JSON the two runs write:

* ``algorithms``: every distillation algorithm class mmrazor 1.0.0 registers, built from small
  mmseg/mmdet models (kdseg's demo models), summarised by class, state-dict keys and shapes and a
  checksum of every tensor; where the algorithm can compute its loss on a random batch without a
  dataset, the loss values too;
* ``configs``: every mmrazor mmseg/mmdet distillation config, ``teacher_ckpt`` off, built the
  same way, or ``'needs a download'`` where building it fetches weights (a model given by
  ``cfg_path`` is loaded by ``mmengine.hub.get_model``; there is no network here);
* ``attributes``: the class attributes of every mmengine, mmrazor, mmdet and mmseg class loaded
  before ``import kdseg`` that are different (rebound, added or removed) after it.
"""
import glob
import importlib.util
import inspect
import json
import os.path as osp
import sys
from typing import Any, Dict

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
UPSTREAM = ('mmengine', 'mmrazor', 'mmdet', 'mmseg')


def stub_quantization() -> None:
    """kdseg.compat.stub_mmrazor_quantization, loaded from its file without importing kdseg."""
    spec = importlib.util.spec_from_file_location('_compat', osp.join(REPO, 'kdseg', 'compat.py'))
    compat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compat)
    compat.stub_mmrazor_quantization()


def import_upstream() -> None:
    import mmdet.models  # noqa: F401
    import mmengine.runner  # noqa: F401
    import mmrazor.engine  # noqa: F401
    import mmrazor.models  # noqa: F401
    import mmseg.models  # noqa: F401


def summary(model: torch.nn.Module) -> Dict[str, Any]:
    state = model.state_dict()
    return dict(type=type(model).__name__,
                keys=[[k, list(v.shape)] for k, v in state.items()],
                checksum=float(sum(v.double().sum() for v in state.values()
                                   if v.is_floating_point())))


def demo_model(name: str) -> dict:
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo_models', name))
    model = cfg.model  # a ConfigDict: mmdet reads train_cfg.rpn as an attribute
    model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model._scope_ = cfg.default_scope
    return model


def seg_batch():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(0)
    inputs = torch.rand(2, 3, 64, 128, generator=gen) * 255
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(64, 128), pad_shape=(64, 128),
                                             ori_shape=(64, 128)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 19, (1, 64, 128), generator=gen))
        samples.append(sample)
    return inputs, samples


def cwd(student: str, teacher: str, distiller: str = 'ConfigurableDistiller') -> dict:
    return dict(
        type=distiller,
        student_recorders=dict(logits=dict(type='ModuleOutputs', source=student)),
        teacher_recorders=dict(logits=dict(type='ModuleOutputs', source=teacher)),
        distill_losses=dict(loss_cwd=dict(type='ChannelWiseDivergence', tau=1, loss_weight=3)),
        loss_forward_mappings=dict(loss_cwd=dict(
            preds_S=dict(from_student=True, recorder='logits'),
            preds_T=dict(from_student=False, recorder='logits'))))


def algorithm_configs() -> Dict[str, dict]:
    from mmrazor.registry import MODELS
    student, teacher = demo_model('pspnet_r18-narrow_synthcity.py'), \
        demo_model('pspnet_r50-narrow_synthcity.py')
    built_student, built_teacher = MODELS.build(student), MODELS.build(teacher)
    s_bn, t_bn = 'backbone.layer4.0.bn1', 'backbone.layer4.0.bn1'
    s_ch = built_student.get_submodule(s_bn).num_features
    t_ch = built_teacher.get_submodule(t_bn).num_features
    ofd = dict(
        type='OFDDistiller',
        student_recorders=dict(bb=dict(type='ModuleOutputs', source=s_bn)),
        teacher_recorders=dict(bb=dict(type='ModuleOutputs', source=t_bn)),
        distill_losses=dict(loss_ofd=dict(type='OFDLoss', loss_weight=0.5)),
        connectors=dict(
            sfeat=dict(type='ConvModuleConnector', in_channel=s_ch, out_channel=t_ch,
                       norm_cfg=dict(type='BN'), act_cfg=None),
            tfeat=dict(type='OFDTeacherConnector')),
        loss_forward_mappings=dict(loss_ofd=dict(
            s_feature=dict(from_student=True, recorder='bb', connector='sfeat'),
            t_feature=dict(from_student=False, recorder='bb', connector='tfeat'))))
    det_student, det_teacher = demo_model('faster-rcnn_r18-narrow_fpn_synthcoco.py'), \
        demo_model('faster-rcnn_r50-narrow_fpn_synthcoco.py')
    pkd = dict(
        type='ConfigurableDistiller',
        student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
        distill_losses=dict(loss_pkd=dict(type='PKDLoss', loss_weight=6)),
        loss_forward_mappings=dict(loss_pkd=dict(
            preds_S=dict(from_student=True, recorder='fpn'),
            preds_T=dict(from_student=False, recorder='fpn'))))
    datafree = dict(
        architecture=student,
        teachers=dict(t=dict(build_cfg=teacher)),
        generator=dict(type='DAFLGenerator', img_size=32, latent_dim=16, hidden_channels=16),
        distiller=cwd('decode_head.conv_seg', 't.decode_head.conv_seg'),
        generator_distiller=dict(
            type='ConfigurableDistiller',
            teacher_recorders=dict(logits=dict(type='ModuleOutputs',
                                               source='t.decode_head.conv_seg')),
            distill_losses=dict(loss_ie=dict(type='InformationEntropyLoss', loss_weight=5)),
            loss_forward_mappings=dict(loss_ie=dict(
                preds_T=dict(from_student=False, recorder='logits')))))
    return {
        'SingleTeacherDistill': dict(type='SingleTeacherDistill', architecture=student,
                                     teacher=teacher, distiller=cwd('decode_head.conv_seg',
                                                                    'decode_head.conv_seg')),
        'FpnTeacherDistill': dict(type='FpnTeacherDistill', architecture=det_student,
                                  teacher=det_teacher, distiller=pkd),
        # mmrazor passes teacher_ckpt to its parent by position: the call kdseg's old patch broke
        'OverhaulFeatureDistillation': dict(type='OverhaulFeatureDistillation',
                                            architecture=student, teacher=teacher,
                                            distiller=ofd),
        'SelfDistill': dict(type='SelfDistill', architecture=student,
                            distiller=cwd('decode_head.conv_seg', 'auxiliary_head.conv_seg')),
        'DataFreeDistillation': dict(type='DataFreeDistillation', **datafree),
        'DAFLDataFreeDistillation': dict(type='DAFLDataFreeDistillation', **datafree),
    }


def build_algorithms() -> Dict[str, Any]:
    from mmengine.registry import init_default_scope
    from mmrazor.models.algorithms import BaseAlgorithm
    from mmrazor.registry import MODELS
    init_default_scope('mmrazor')
    registered = sorted(
        name for name, cls in MODELS.module_dict.items()
        if inspect.isclass(cls) and issubclass(cls, BaseAlgorithm)
        and '.distill.' in cls.__module__
        and cls.__module__.startswith('mmrazor.'))
    configs = algorithm_configs()
    results = dict(registered=registered)
    for name in registered:
        torch.manual_seed(0)
        model = MODELS.build(configs[name])
        result = summary(model)
        if name in ('SingleTeacherDistill', 'OverhaulFeatureDistillation', 'SelfDistill'):
            model.train()
            torch.manual_seed(1)
            inputs, samples = seg_batch()
            data = model.data_preprocessor(dict(inputs=list(inputs), data_samples=samples),
                                           training=True)
            losses = model.loss(data['inputs'], data['data_samples'])
            result['losses'] = {k: float(sum(v) if isinstance(v, list) else v.detach())
                                for k, v in losses.items() if 'loss' in k}
        results[name] = result
    return results


def build_configs() -> Dict[str, Any]:
    import mmrazor
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmrazor.registry import MODELS
    root = osp.join(osp.dirname(mmrazor.__file__), '.mim', 'configs', 'distill')
    results = {}
    for path in sorted(glob.glob(osp.join(root, 'mm*', '*', '*.py'))):
        name = osp.relpath(path, root)
        if name.startswith('mmcls/'):
            continue  # mmcls (mmpretrain) is not part of kdseg's stack
        try:
            cfg = Config.fromfile(path)
        except ModuleNotFoundError as err:  # a base from mmdet3d, say
            results[name] = f'needs {err.name or err}'
            continue
        model = cfg.model
        if 'teacher_ckpt' in model:
            model.teacher_ckpt = None
        init_default_scope('mmrazor')
        torch.manual_seed(0)
        try:
            results[name] = summary(MODELS.build(model))
        except OSError:  # mmengine.hub.get_model loads the config's weights: no network here
            results[name] = 'needs a download'
    return results


def classes() -> Dict[tuple, type]:
    found = {}
    for module_name, module in list(sys.modules.items()):
        if module is None or module_name.split('.')[0] not in UPSTREAM:
            continue
        for cls in list(vars(module).values()):
            if inspect.isclass(cls) and cls.__module__ == module_name:
                found[(module_name, cls.__qualname__)] = cls
    return found


def changed_attributes() -> list:
    before = {key: dict(vars(cls)) for key, cls in classes().items()}
    import kdseg  # noqa: F401
    changed = []
    for (module_name, qualname), attributes in before.items():
        now = vars(classes()[(module_name, qualname)])
        for name in sorted(set(attributes) | set(now)):
            if attributes.get(name, KeyError) is not now.get(name, KeyError):
                changed.append(f'{module_name}.{qualname}.{name}')
    return changed


def blocked_download(url: str, *args: Any, **kwargs: Any) -> None:
    raise OSError(f'download of {url} blocked by tests/upstream_builds.py')


def main() -> None:
    mode, what, out = sys.argv[1:]
    torch.set_num_threads(1)
    torch.hub.download_url_to_file = blocked_download  # never fetch weights, network or not
    if mode == 'plain':
        stub_quantization()
    else:
        import kdseg  # noqa: F401
    import_upstream()
    if what == 'attributes':
        assert mode == 'plain'
        result = changed_attributes()
    else:
        result = build_algorithms() if what == 'algorithms' else build_configs()
    assert ('kdseg' in sys.modules) == (mode == 'kdseg' or what == 'attributes')
    with open(out, 'w') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
