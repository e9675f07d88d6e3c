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


@pytest.mark.parametrize('bad', [dict(dtype='float16'), dict(dtype=torch.float16),
                                 dict(device_type='mps')])
def test_clear_errors(bad):
    with pytest.raises(ValueError, match='AutocastOptimWrapper'):
        build_optim_wrapper(nn.Linear(2, 2), dict(type='AutocastOptimWrapper',
                                                  optimizer=dict(type='SGD', lr=0.1), **bad))
