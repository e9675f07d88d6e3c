"""AutocastOptimWrapper: bfloat16 autocast on the CPU, float32 parameters, plain optimizer step."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from torch import nn

import kdseg  # noqa: F401  (registers the wrapper)


def _step(wrapper_type: str, seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Linear(64, 16)
    wrapper = build_optim_wrapper(model, dict(type=wrapper_type,
                                              optimizer=dict(type='SGD', lr=0.1)))
    x = torch.randn(32, 64)
    with wrapper.optim_context(model):
        out = model(x)
    wrapper.update_params(out.float().square().mean())
    return model, out, wrapper


def test_forward_runs_in_bfloat16_and_the_update_in_float32():
    model, out, wrapper = _step('AutocastOptimWrapper')
    plain, plain_out, _ = _step('OptimWrapper')
    assert out.dtype == torch.bfloat16 and plain_out.dtype == torch.float32
    assert model.weight.dtype == torch.float32
    # a bfloat16 forward (8 mantissa bits): the step is close to float32's, not equal to it
    torch.testing.assert_close(model.weight, plain.weight, rtol=0, atol=2e-3)
    assert not torch.equal(model.weight, plain.weight)
    assert 'loss_scaler' not in wrapper.state_dict()  # no loss scaling: bfloat16's range


class Detector(nn.Module):
    """A backbone whose output a float32-only op (mmcv's CPU nms, say) consumes."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(64, 16)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        features = self.backbone(x)
        assert features.dtype == torch.float32  # what the float32-only op needs
        return features, self.head(features)


def test_modules_run_only_the_named_modules_in_bfloat16_and_only_while_training():
    torch.manual_seed(0)
    model = Detector()
    wrapper = build_optim_wrapper(model, dict(type='AutocastOptimWrapper', modules=['backbone'],
                                              optimizer=dict(type='SGD', lr=0.1)))
    recorded = []  # a hook registered before the wrapper's, as mmrazor's recorders are
    model.backbone.register_forward_hook(lambda m, a, output: recorded.append(output.dtype))
    x = torch.randn(8, 64)
    plain_features, plain_out = model(x)
    with wrapper.optim_context(model):
        features, out = model(x)
    assert features.dtype == out.dtype == torch.float32
    assert recorded == [torch.float32, torch.float32]  # the recorder sees float32 too
    # the backbone ran in bfloat16 (rounded), the head in float32 on those features
    assert not torch.equal(features, plain_features)
    torch.testing.assert_close(features, plain_features, rtol=0, atol=3e-2)
    torch.testing.assert_close(out, model.head(features), rtol=0, atol=0)
    # outside the training step (validation, test) everything runs in float32
    again, _ = model(x)
    assert torch.equal(again, plain_features)
    wrapper.update_params(out.square().mean())
    with pytest.raises(ValueError, match='no module of Detector'):
        bad = build_optim_wrapper(model, dict(type='AutocastOptimWrapper', modules=['neck'],
                                              optimizer=dict(type='SGD', lr=0.1)))
        with bad.optim_context(model):
            pass


@pytest.mark.parametrize('bad', [dict(dtype='float16'), dict(dtype=torch.float16),
                                 dict(device_type='mps'), dict(modules='backbone'),
                                 dict(modules=[])])
def test_clear_errors(bad):
    with pytest.raises(ValueError, match='AutocastOptimWrapper'):
        build_optim_wrapper(nn.Linear(2, 2), dict(type='AutocastOptimWrapper',
                                                  optimizer=dict(type='SGD', lr=0.1), **bad))
