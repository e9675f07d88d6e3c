"""kdseg.apis.cli.runner_setup: the command-line flags become the right config changes."""
import os.path as osp

import pytest
from mmengine.config import Config

from kdseg.apis.cli import (add_safety_hooks, enable_amp, enable_dump, enable_show_dir,
                            load_config, set_resume, skip_teacher_ckpt)


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / 'toy_config.py'
    path.write_text(
        "model = dict(type='Toy')\n"
        "optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))\n"
        "find_unused_parameters = True\n"
        "test_evaluator = dict(type='IoUMetric')\n"
        "default_hooks = dict(visualization=dict(type='SegVisualizationHook'))\n"
        "visualizer = dict(type='SegLocalVisualizer')\n")
    return str(path)


def test_load_config_merges_options_and_defaults_work_dir(config_file):
    cfg = load_config(config_file, cfg_options={'optim_wrapper.optimizer.lr': 0.5})
    assert cfg.optim_wrapper.optimizer.lr == 0.5
    assert cfg.work_dir.endswith('work_dirs/toy_config')
    assert cfg.launcher == 'none'
    assert load_config(config_file, work_dir='/x').work_dir == '/x'


def test_load_config_errors_name_the_problem(tmp_path, config_file):
    with pytest.raises(FileNotFoundError, match='nope.py'):
        load_config(str(tmp_path / 'nope.py'))
    with pytest.raises(ValueError, match='--launcher'):
        load_config(config_file, launcher='mpirun')


def test_amp_switches_the_optimizer_wrapper(config_file):
    cfg = enable_amp(load_config(config_file), cuda=True)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    cfg = enable_amp(load_config(config_file), cuda=False)  # CPU: bfloat16, no loss scaler
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16' and 'loss_scale' not in cfg.optim_wrapper
    assert cfg.optim_wrapper.get('modules') is None  # mmseg: the whole forward
    detector = load_config(config_file)
    detector.default_scope = 'mmdet'  # mmcv's CPU nms and RoIAlign: float32 heads
    assert enable_amp(detector, cuda=False).optim_wrapper.modules == ['backbone', 'neck']
    assert enable_amp(detector, cuda=True).optim_wrapper.type == 'AmpOptimWrapper'


def test_resume_auto_and_explicit(tmp_path, config_file):
    work_dir = tmp_path / 'run'
    work_dir.mkdir()
    (work_dir / 'iter_4.pth').write_bytes(b'')
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_4.pth'))
    cfg = set_resume(load_config(config_file, work_dir=str(work_dir)), 'auto')
    assert cfg.resume is True and cfg.load_from is None
    ckpt = tmp_path / 'iter_2.pth'
    ckpt.write_bytes(b'')
    cfg = set_resume(load_config(config_file), str(ckpt))
    assert cfg.resume is True and cfg.load_from == str(ckpt)
    with pytest.raises(FileNotFoundError, match='--resume'):
        set_resume(load_config(config_file), str(tmp_path / 'missing.pth'))


def test_out_appends_a_dump_metric(config_file):
    cfg = enable_dump(load_config(config_file), 'preds.pkl')
    assert [m['type'] for m in cfg.test_evaluator] == ['IoUMetric', 'DumpResults']
    with pytest.raises(ValueError, match='--out'):
        enable_dump(load_config(config_file), 'preds.json')


def test_show_dir_turns_on_drawing_into_one_place(config_file):
    cfg = enable_show_dir(load_config(config_file), 'vis')
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.visualizer.save_dir == osp.abspath('vis')
    det = Config(dict(model=dict(), visualizer=dict(), default_hooks=dict(
        visualization=dict(type='mmdet.DetVisualizationHook'))))
    det = enable_show_dir(det, 'vis')
    assert det.visualizer.save_dir == osp.abspath('vis')
    assert det.default_hooks.visualization.test_out_dir == osp.abspath('vis/vis_data/vis_image')
    with pytest.raises(KeyError, match='visualization'):
        enable_show_dir(Config(dict(model=dict())), 'vis')


def test_safety_hooks_are_added_once_and_user_settings_kept(config_file):
    cfg = load_config(config_file, cfg_options={'custom_hooks': [
        dict(type='NaNGuardHook', interval=5)]})
    add_safety_hooks(add_safety_hooks(cfg))
    assert [h['type'] for h in cfg.custom_hooks] == ['NaNGuardHook', 'ConfigCheckHook',
                                                      'RNGStateHook']
    assert cfg.custom_hooks[0]['interval'] == 5


def test_testing_a_distiller_does_not_reload_its_teacher(tmp_path):
    path = tmp_path / 'distill.py'
    path.write_text("model = dict(type='SingleTeacherDistill', teacher_ckpt='teacher.pth')\n")
    cfg = skip_teacher_ckpt(load_config(str(path)))
    assert cfg.model.teacher_ckpt is None


def test_resume_in_a_work_dir_without_checkpoint_warns_that_nothing_is_resumed(tmp_path,
                                                                               config_file):
    with pytest.warns(UserWarning, match='NOTHING IS RESUMED: training starts from iteration 0'):
        set_resume(load_config(config_file, work_dir=str(tmp_path)), 'auto')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_8.pth'))
    with pytest.raises(FileNotFoundError, match='names .*iter_8.pth.*, which does not exist'):
        set_resume(load_config(config_file, work_dir=str(tmp_path)), 'auto')


def test_a_type_name_typo_names_the_config_key_and_the_closest_names():
    from mmengine.registry import MODELS, init_default_scope

    from kdseg.apis.cli import UnknownTypeError, config_keys_named
    cfg = Config(dict(model=dict(type='EncoderDecoder', losses=[
        dict(type='CrossEntropyLoss'), dict(type='TaTLos')])))
    init_default_scope('mmrazor')
    with pytest.raises(UnknownTypeError) as err:
        with config_keys_named(cfg):
            MODELS.build(cfg.model.losses[1])
    message = str(err.value)
    assert message.startswith("model.losses[1].type='TaTLos': no model of that name is "
                              'registered (looked in the mmrazor::model registry'), message
    assert "Did you mean 'TaTLoss'" in message
    with pytest.raises(KeyError, match='other'):  # any other KeyError passes through unchanged
        with config_keys_named(cfg):
            raise KeyError('other')


@pytest.mark.skipif(__import__('torch').cuda.is_available(), reason='the no-CUDA path')
def test_pytorch_launcher_without_cuda_starts_gloo_and_a_cpu_ddp_wrapper(monkeypatch):
    """What mmengine's Runner then does with them: it skips init_dist (a group exists) and
    builds the wrapper from model_wrapper_cfg with device_ids=[LOCAL_RANK] as a default."""
    import os

    import torch
    from mmengine.model import BaseModel
    from mmengine.registry import MODEL_WRAPPERS

    from kdseg.apis.cli.runner_setup import cpu_distributed
    port = 29400 + os.getpid() % 500
    for key, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(port)).items():
        monkeypatch.setenv(key, value)
    assert cpu_distributed(Config(dict(launcher='none'))).get('model_wrapper_cfg') is None
    cfg = cpu_distributed(Config(dict(launcher='pytorch', find_unused_parameters=True)))
    try:
        assert torch.distributed.get_backend() == 'gloo'

        class Model(BaseModel):
            def __init__(self):
                super().__init__()
                self.layer = torch.nn.Linear(2, 2)

            def forward(self, inputs, data_samples=None, mode='tensor'):
                return self.layer(inputs)

        wrapped = MODEL_WRAPPERS.build(cfg.model_wrapper_cfg,
                                       default_args=dict(module=Model(), device_ids=[0]))
        assert wrapped.device_ids is None and wrapped.find_unused_parameters
        # a config's own wrapper settings are kept
        own = dict(type='MMDistributedDataParallel', device_ids=None, static_graph=True)
        assert cpu_distributed(Config(dict(launcher='pytorch', model_wrapper_cfg=own))
                               ).model_wrapper_cfg == own
    finally:
        torch.distributed.destroy_process_group()
