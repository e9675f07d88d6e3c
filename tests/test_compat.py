"""kdseg.compat: each run-time fix proves its behaviour."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

from kdseg import compat


def test_mmrazor_distillation_imports_and_quantization_says_unavailable():
    from mmrazor.models import ConfigurableDistiller, SingleTeacherDistill  # noqa: F401
    from mmrazor.structures.quantization import QConfigHandler
    with pytest.raises(compat.QuantizationUnavailable, match='QConfigHandler.*unavailable'):
        QConfigHandler(dict(w_observer='x'))


def test_mmengine_checkpoint_types_load_securely(tmp_path):
    history = HistoryBuffer()
    history.update(np.float64(0.5))
    ckpt = dict(
        meta=dict(seed=np.int64(3), iter=4, dtype=np.dtype('float32')),
        state_dict=dict(w=torch.arange(4.)),
        message_hub=dict(log_scalars=dict(loss=history, empty=HistoryBuffer()), arr=np.arange(3)))
    path = tmp_path / 'ok.pth'
    torch.save(ckpt, path)
    loaded = _load_checkpoint(str(path))
    assert torch.equal(loaded['state_dict']['w'], torch.arange(4.))
    assert loaded['meta']['seed'] == 3
    assert loaded['message_hub']['log_scalars']['loss'].mean() == pytest.approx(0.5)
    np.testing.assert_array_equal(loaded['message_hub']['arr'], np.arange(3))


class _Payload:
    """Unpickling this would create a file: the refusal must happen before that."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_checkpoint_with_foreign_object_is_refused_with_a_clear_message(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, extra=_Payload(str(marker))), path)
    with pytest.raises(compat.UnsafeCheckpointError, match='allow-list'):
        _load_checkpoint(str(path))
    assert not marker.exists()


def test_only_history_buffer_getattr_is_allowed():
    assert compat._history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        compat._history_buffer_getattr(os, 'system')
    with pytest.raises(pickle.UnpicklingError):
        compat._history_buffer_getattr(HistoryBuffer, '__init__')


def test_only_empty_bytes_is_allowed():
    # pickle protocol 2 writes b'' (an empty numpy array's data) as bytes(); nothing else calls it
    assert compat._empty_bytes() == b''
    with pytest.raises(pickle.UnpicklingError):
        compat._empty_bytes(10**12)
    with pytest.raises(pickle.UnpicklingError):
        compat._empty_bytes('x', 'utf8')


def test_numpy_in1d_is_available_for_cityscapesscripts():
    np.testing.assert_array_equal(np.in1d([1, 2, 3], [2, 3]), [False, True, True])


def test_an_installed_release_other_than_the_checked_one_warns_naming_the_fix():
    assert set(compat.CHECKED_AGAINST) == set(compat.FIXES)
    assert compat.check_versions() == []  # this machine has the checked releases
    versions = {'mmengine': '0.11.0', 'mmrazor': '1.0.0', 'cityscapesscripts': '2.3.0'}
    with pytest.warns(UserWarning) as record:
        texts = compat.check_versions(versions.__getitem__)
    assert len(texts) == len(record) == 2
    assert texts[0].startswith('kdseg.compat.secure_checkpoint_loading was checked against '
                               'mmengine 0.10.7; mmengine 0.11.0 is installed')
    assert texts[1].startswith('kdseg.compat.kdseg_config_prefix was checked against mmengine '
                               '0.10.7')
