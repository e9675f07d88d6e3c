"""No checkpoint, from any source mmengine knows, runs code when loaded; everything mmengine itself
writes into a checkpoint still loads (kdseg.compat.secure_checkpoint_loading / safe_torch_load).

No test here touches the network: URL checkpoints are placed in a temporary torch hub cache,
where torch.hub looks before downloading.
"""
import importlib.util
import io
import json
import os
import random
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn
from mmengine.runner import checkpoint as mm_ckpt
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

from kdseg import compat
from kdseg.compat import NotACheckpointError

URL = 'https://download.openmmlab.com/kdseg-test/x.pth'


class _Payload:
    """Unpickling this would create the marker file: the refusal must come before that."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, 'w'))


def _evil(tmp_path):
    """A checkpoint whose unpickling would create ``tmp_path/pwned``; returns (object, marker)."""
    marker = tmp_path / 'pwned'
    return dict(state_dict=dict(w=torch.ones(2)), extra=_Payload(marker)), marker


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub cache in tmp_path; checkpoints for URLs go to ``<hub>/checkpoints``."""
    monkeypatch.setattr(torch.hub, '_hub_dir', torch.hub._hub_dir)  # restored afterwards
    hub = tmp_path / 'hub'
    (hub / 'checkpoints').mkdir(parents=True)
    torch.hub.set_dir(str(hub))
    return hub / 'checkpoints'


def _loaders():
    return [pytest.param(_load_checkpoint, id='_load_checkpoint'),
            pytest.param(CheckpointLoader.load_checkpoint, id='CheckpointLoader.load_checkpoint')]


@pytest.mark.parametrize('load', _loaders())
def test_https_checkpoint_from_hub_cache_cannot_run_code(tmp_path, hub_dir, load):
    obj, marker = _evil(tmp_path)
    torch.save(obj, hub_dir / 'x.pth')
    with pytest.raises(compat.UnsafeCheckpointError, match='allow-list'):
        load(URL, map_location='cpu')
    assert not marker.exists()
    assert torch.load is torch.serialization.load  # swapped only for the call


def test_clean_https_checkpoint_from_hub_cache_loads(hub_dir):
    torch.save(dict(state_dict=OrderedDict(w=torch.arange(3.))), hub_dir / 'x.pth')
    loaded = _load_checkpoint(URL, map_location='cpu')
    assert torch.equal(loaded['state_dict']['w'], torch.arange(3.))


def test_open_mmlab_name_that_maps_to_an_url_cannot_run_code(tmp_path, hub_dir):
    url = mm_ckpt.get_external_models()['resnet50_v1c']
    assert url.startswith('https://')
    obj, marker = _evil(tmp_path)
    torch.save(obj, hub_dir / os.path.basename(url))
    for name in ('open-mmlab://resnet50_v1c', 'openmmlab://resnet50_v1c'):
        with pytest.raises(compat.UnsafeCheckpointError):
            _load_checkpoint(name)
    assert not marker.exists()


def test_open_mmlab_name_that_maps_to_a_local_file_cannot_run_code(tmp_path, monkeypatch):
    home = tmp_path / 'mmengine_home'
    home.mkdir()
    (home / 'open_mmlab.json').write_text(json.dumps({'kdseg_local': 'evil.pth'}))
    obj, marker = _evil(tmp_path)
    torch.save(obj, home / 'evil.pth')
    monkeypatch.setenv('MMENGINE_HOME', str(home))
    with pytest.raises(compat.UnsafeCheckpointError):
        _load_checkpoint('open-mmlab://kdseg_local')
    assert not marker.exists()


def test_mmcls_name_is_covered(tmp_path, hub_dir):
    name, url = next(iter(mm_ckpt.get_mmcls_models().items()))
    obj, marker = _evil(tmp_path)
    torch.save(obj, hub_dir / os.path.basename(url))
    with pytest.raises(compat.UnsafeCheckpointError):
        _load_checkpoint(f'mmcls://{name}')
    assert not marker.exists()


@pytest.fixture
def evil_scheme(tmp_path):
    """Registers ``evil://<path>``, a scheme whose loader asks for an unsafe ``torch.load``."""

    def load_from_evil(filename, map_location=None):
        path = filename[len('evil://'):]
        with open(path, 'rb') as f:  # a file object, as s3/petrel loaders pass a buffer
            return torch.load(io.BytesIO(f.read()), map_location=map_location,
                              weights_only=False)

    CheckpointLoader.register_scheme('evil://', load_from_evil)
    yield
    CheckpointLoader._schemes.pop('evil://')


def test_a_scheme_registered_later_is_covered(tmp_path, evil_scheme):
    obj, marker = _evil(tmp_path)
    torch.save(obj, tmp_path / 'evil.pth')
    with pytest.raises(compat.UnsafeCheckpointError):
        _load_checkpoint(f'evil://{tmp_path / "evil.pth"}')
    assert not marker.exists()
    torch.save(dict(w=torch.ones(1)), tmp_path / 'ok.pth')
    assert _load_checkpoint(f'evil://{tmp_path / "ok.pth"}')['w'].item() == 1


def test_every_registered_scheme_loads_through_the_safe_wrapper(monkeypatch):
    """Each loader in CheckpointLoader._schemes runs with torch.load swapped for the safe one."""
    seen = {}
    for prefix in list(CheckpointLoader._schemes):

        def spy(filename, map_location=None, prefix=prefix):
            seen[prefix] = torch.load is compat._forced_safe_load
            return {}

        monkeypatch.setitem(CheckpointLoader._schemes, prefix, spy)
    expected = {'', 'http://', 'https://', 'pavi://', 'modelzoo://', 'torchvision://',
                'open-mmlab://', 'openmmlab://', 'mmcls://', r'(\S+\:)?s3://',
                r'(\S+\:)?petrel://'}
    assert expected <= set(CheckpointLoader._schemes)
    names = {'': '/x.pth', r'(\S+\:)?s3://': 's3://b/x.pth',
             r'(\S+\:)?petrel://': 'petrel://b/x.pth'}
    for prefix in CheckpointLoader._schemes:
        name = names.get(prefix, f'{prefix}x')
        assert CheckpointLoader._get_checkpoint_loader(name).__defaults__[-1] == prefix
        _load_checkpoint(name)
    assert seen == {prefix: True for prefix in CheckpointLoader._schemes}
    assert torch.load is torch.serialization.load


def test_failed_download_names_url_cache_file_and_local_path_fix(hub_dir):
    url = 'http://127.0.0.1:9/teacher.pth'  # port 9 (discard) refuses: no network needed
    with pytest.raises(compat.CheckpointDownloadError) as info:
        _load_checkpoint(url)
    message = str(info.value)
    assert url in message
    assert str(hub_dir / 'teacher.pth') in message
    assert 'model.teacher_ckpt=' in message and 'load_from=' in message
    assert not (hub_dir / 'teacher.pth').exists()
    assert torch.hub.download_url_to_file is compat._TORCH_HUB_DOWNLOAD


@pytest.mark.skipif(importlib.util.find_spec('torchvision') is not None,
                    reason='the message is for machines without torchvision')
def test_torchvision_name_without_torchvision_says_so(hub_dir):
    with pytest.raises(ImportError, match='needs torchvision installed') as info:
        _load_checkpoint('torchvision://resnet50')
    assert 'https://download.pytorch.org/models/resnet50' in str(info.value)


def test_teacher_checkpoint_and_pretrained_init_go_through_the_safe_loader(tmp_path, hub_dir):
    """mmengine's load_checkpoint (mmrazor teacher_ckpt) and init_cfg=Pretrained use the URL."""
    from mmengine.model import BaseModule
    from mmengine.runner import load_checkpoint
    obj, marker = _evil(tmp_path)
    torch.save(obj, hub_dir / 'x.pth')
    with pytest.raises(compat.UnsafeCheckpointError):
        load_checkpoint(torch.nn.Linear(1, 1), URL)

    class Net(BaseModule):

        def __init__(self):
            super().__init__(init_cfg=dict(type='Pretrained', checkpoint=URL))
            self.w = torch.nn.Parameter(torch.zeros(2))

    with pytest.raises(compat.UnsafeCheckpointError):
        Net().init_weights()
    assert not marker.exists()


# ---- Task: everything mmengine writes into a checkpoint loads with the allow-list ----------------


def _roundtrip(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return compat.safe_torch_load(buffer)


def test_message_hub_state_with_empty_and_filled_history_buffers():
    from mmengine.logging import HistoryBuffer, MessageHub
    hub = MessageHub(f'kdseg-test-{id(object())}', log_scalars=OrderedDict(empty=HistoryBuffer()),
                     resumed_keys=dict(empty=True))
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/loss', np.float32(1.5))
    hub.update_scalar('val/acc', np.float64(0.25))
    hub.update_info('iter', 3)
    hub.update_info('arr', np.arange(4))
    state = _roundtrip(hub.state_dict())
    assert state['log_scalars']['train/loss'].mean() == pytest.approx(1.0)
    assert state['log_scalars']['val/acc'].current() == pytest.approx(0.25)
    assert len(state['log_scalars']['empty'].data[0]) == 0
    restored = MessageHub(f'kdseg-test-restored-{id(object())}')
    restored.load_state_dict(state)
    assert restored.get_scalar('train/loss').mean() == pytest.approx(1.0)


@pytest.mark.parametrize('dtype', ['float16', 'float32', 'float64', 'int8', 'int32', 'int64',
                                   'uint8', 'bool'])
def test_numpy_scalars_and_arrays(dtype):
    values = dict(scalar=np.ones((), dtype)[()], zero_d=np.array(1, dtype),
                  nd=np.ones((2, 3, 1), dtype), empty=np.zeros((0, 2), dtype),
                  dtype=np.dtype(dtype), fortran=np.asfortranarray(np.ones((2, 3), dtype)))
    loaded = _roundtrip(values)
    for key, value in values.items():
        if key == 'dtype':
            assert loaded[key] == value
        else:
            assert loaded[key].dtype == value.dtype and np.array_equal(loaded[key], value)
            assert type(loaded[key]) is type(value)


def test_rng_states_containers_and_bytes():
    state = dict(
        numpy_rng=np.random.get_state(), python_rng=random.getstate(),
        torch_rng=torch.get_rng_state(), ordered=OrderedDict(a=1, b=(2, [3.0])),
        nested=dict(t=(1, (2, dict(x=None))), s={1, 2}, fs=frozenset({'a'})),
        empty_bytes=b'', some_bytes=b'\x00\xff', text='t', none=None, flag=True, c=1 + 2j)
    loaded = _roundtrip(state)
    assert loaded['numpy_rng'][0] == 'MT19937'
    np.testing.assert_array_equal(loaded['numpy_rng'][1], state['numpy_rng'][1])
    assert loaded['python_rng'] == state['python_rng']
    assert torch.equal(loaded['torch_rng'], state['torch_rng'])
    for key in ('ordered', 'nested', 'empty_bytes', 'some_bytes', 'text', 'none', 'flag', 'c'):
        assert loaded[key] == state[key]
    np.random.set_state(loaded['numpy_rng'])
    random.setstate(loaded['python_rng'])


def test_refused_global_is_named():
    import datetime
    with pytest.raises(compat.UnsafeCheckpointError, match='datetime'):
        _roundtrip(dict(time=datetime.timedelta(1)))


def _tiny_runner(work_dir, max_iters, **kwargs):
    from mmengine.evaluator import BaseMetric
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class ToyModel(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, inputs, labels, mode='tensor'):
            inputs, labels = torch.stack(inputs), torch.stack(labels)
            outputs = self.linear(inputs)
            if mode == 'loss':
                return dict(loss=((outputs - labels)**2).mean())
            return list(outputs)

    class ToyMetric(BaseMetric):

        def process(self, data_batch, data_samples):
            self.results += [float(s) for s in data_samples]

        def compute_metrics(self, results):
            return dict(mean=np.float64(np.mean(results)), count=np.int64(len(results)))

    dataset = [dict(inputs=torch.full((2, ), float(i)), labels=torch.ones(1)) for i in range(4)]
    loader = dict(dataset=dataset, sampler=dict(type='DefaultSampler', shuffle=True),
                  batch_size=2, num_workers=0, collate_fn=dict(type='pseudo_collate'))
    return Runner(
        model=ToyModel(), work_dir=str(work_dir), train_dataloader=loader,
        val_dataloader=dict(loader, sampler=dict(type='DefaultSampler', shuffle=False)),
        val_evaluator=[ToyMetric()],
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=1),
        val_cfg=dict(type='ValLoop'),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1], by_epoch=False),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), default_scope='mmengine', **kwargs)


def test_runner_checkpoints_load_and_resume_through_the_safe_loader(tmp_path, monkeypatch):
    work_dir = tmp_path / 'work'
    runner = _tiny_runner(work_dir, 2, experiment_name=f'kdseg-ckpt-{id(tmp_path)}')
    runner.train()
    checkpoints = sorted(work_dir.glob('*.pth'))
    assert [p.name for p in checkpoints] == ['iter_1.pth', 'iter_2.pth']
    for path in checkpoints:
        loaded = compat.safe_torch_load(str(path))
        assert {'meta', 'state_dict', 'optimizer', 'param_schedulers', 'message_hub'} <= set(loaded)
    # iter_2.pth holds the validation after iteration 1: numpy metric values in the history
    assert np.isfinite(loaded['message_hub']['log_scalars']['val/mean'].current())

    # the Runner's own resume (latest checkpoint in work_dir) goes through CheckpointLoader
    resumed = _tiny_runner(work_dir, 3, resume=True, experiment_name=f'kdseg-re-{id(tmp_path)}')
    safe_loads, safe_torch_load = [], compat.safe_torch_load
    monkeypatch.setattr(compat, 'safe_torch_load',
                        lambda f, *args: safe_loads.append(f) or safe_torch_load(f, *args))
    resumed.train()
    assert safe_loads == [str(work_dir / 'iter_2.pth')]
    assert resumed.iter == 3
    assert (work_dir / 'iter_3.pth').is_file()
    assert len(resumed.message_hub.get_scalar('train/loss').data[0]) >= 2  # history came back


@pytest.mark.parametrize('content, expected', [
    (b'', r'is empty \(0 bytes\): not a checkpoint'),
    (bytes(range(7, 250)) * 20, 'is not a PyTorch checkpoint: it starts with'),
    (None, 'is a damaged or truncated checkpoint'),
])
def test_a_file_that_is_no_checkpoint_is_named_as_such(tmp_path, content, expected):
    path = tmp_path / 'model.pth'
    if content is None:  # the first 300 bytes of a real checkpoint: a killed copy
        torch.save({'state_dict': nn.Linear(4, 4).state_dict()}, str(path))
        content = path.read_bytes()[:300]
    path.write_bytes(content)
    with pytest.raises(NotACheckpointError, match=expected) as err:
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert repr(str(path)) in str(err.value)
    assert 'If you trust this file' not in str(err.value)
