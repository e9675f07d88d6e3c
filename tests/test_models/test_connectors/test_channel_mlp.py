"""ChannelMLPConnector computes CWT's MLP(F_s) = W2(ReLU(W1(F_s))) (arXiv 2303.13212).

The reference below is written independently of ``nn.Conv2d`` and ``nn.BatchNorm2d``: the 1×1
convolutions as einsums over channels, the BatchNorm of training mode as its batch statistics
(mean and biased variance over B, H, W), all in float64.
"""
from typing import Optional

import pytest
import torch
from torch import Tensor

from kdseg.models.connectors import ChannelMLPConnector

B, C_S, C_T, H, W = 3, 5, 7, 4, 6


def reference_mlp(connector: ChannelMLPConnector, x: Tensor) -> Tensor:
    """W2(ReLU(BN(W1(x)))) written out; BN is the identity when the connector has none."""

    def conv1x1(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
        out = torch.einsum('oc,bchw->bohw', weight[:, :, 0, 0], x)
        return out if bias is None else out + bias[None, :, None, None]

    hidden = conv1x1(x, connector.w1.weight, connector.w1.bias)
    if isinstance(connector.bn, torch.nn.BatchNorm2d):
        mean = hidden.mean(dim=(0, 2, 3), keepdim=True)
        var = ((hidden - mean)**2).mean(dim=(0, 2, 3), keepdim=True)  # biased, as BN normalises
        hidden = (hidden - mean) / torch.sqrt(var + connector.bn.eps)
        hidden = hidden * connector.bn.weight[None, :, None, None] \
            + connector.bn.bias[None, :, None, None]
    hidden = torch.where(hidden > 0, hidden, torch.zeros_like(hidden))
    return conv1x1(hidden, connector.w2.weight, connector.w2.bias)


def make_connector(**kwargs) -> ChannelMLPConnector:
    torch.manual_seed(0)
    connector = ChannelMLPConnector(C_S, C_T, **kwargs).double().train()
    if isinstance(connector.bn, torch.nn.BatchNorm2d):
        with torch.no_grad():  # away from BN's initial γ = 1, β = 0, so both are exercised
            connector.bn.weight.uniform_(0.5, 1.5)
            connector.bn.bias.uniform_(-0.5, 0.5)
    return connector


CASES = {
    'defaults': dict(),
    'no_bias': dict(bias=False),
    'hidden_width': dict(hidden_channels=3),
    'norm': dict(norm=True),
    'norm_no_bias_hidden_width': dict(norm=True, bias=False, hidden_channels=11),
}


@pytest.mark.parametrize('kwargs', CASES.values(), ids=CASES.keys())
def test_output_matches_written_out_mlp(kwargs):
    connector = make_connector(**kwargs)
    x = torch.randn(B, C_S, H, W, dtype=torch.float64)
    out = connector(x)
    assert out.shape == (B, C_T, H, W)
    torch.testing.assert_close(out, reference_mlp(connector, x), rtol=1e-6, atol=0)


@pytest.mark.parametrize('kwargs', CASES.values(), ids=CASES.keys())
def test_gradients_reach_every_parameter_and_the_student_feature(kwargs):
    connector = make_connector(**kwargs)
    x = torch.randn(B, C_S, H, W, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(B, C_T, H, W, dtype=torch.float64)
    inputs = [x, *connector.parameters()]
    ours = torch.autograd.grad(connector(x), inputs, upstream)
    expected = torch.autograd.grad(reference_mlp(connector, x), inputs, upstream)
    for grad, exp in zip(ours, expected):
        assert grad.abs().sum() > 0
        torch.testing.assert_close(grad, exp, rtol=1e-6, atol=1e-12)


def test_defaults_are_hidden_width_teacher_channels_bias_on_no_norm():
    connector = ChannelMLPConnector(C_S, C_T)
    assert connector.w1.weight.shape == (C_T, C_S, 1, 1)
    assert connector.w2.weight.shape == (C_T, C_T, 1, 1)
    assert connector.w1.bias is not None and connector.w2.bias is not None
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                   for m in connector.modules())
    custom = ChannelMLPConnector(C_S, C_T, hidden_channels=3, bias=False, norm=True)
    assert custom.w1.weight.shape == (3, C_S, 1, 1) and custom.w2.weight.shape == (C_T, 3, 1, 1)
    assert custom.w1.bias is None and custom.w2.bias is None
    assert isinstance(custom.bn, torch.nn.BatchNorm2d) and custom.bn.num_features == 3


@pytest.mark.parametrize('name', ['student_channels', 'teacher_channels', 'hidden_channels'])
@pytest.mark.parametrize('value', [0, -4, 2.0, True, '8'])
def test_bad_channel_count_names_the_argument(name, value):
    kwargs = dict(student_channels=C_S, teacher_channels=C_T, hidden_channels=None)
    kwargs[name] = value
    with pytest.raises(ValueError, match=f'^{name} must be a positive int, got {value!r}$'):
        ChannelMLPConnector(**kwargs)


def test_input_with_other_channel_count_says_expected_and_actual():
    connector = ChannelMLPConnector(C_S, C_T)
    with pytest.raises(ValueError) as err:
        connector(torch.randn(B, C_S + 1, H, W))
    assert str(err.value) == (f'student_channels={C_S}, but the student feature has {C_S + 1} '
                              f'channels (shape ({B}, {C_S + 1}, {H}, {W}))')


def test_input_that_is_not_a_feature_map_is_refused():
    with pytest.raises(ValueError, match=r'expects a \(B, C, H, W\) student feature, got shape '
                                         r'\(3, 5\)'):
        ChannelMLPConnector(C_S, C_T)(torch.randn(B, C_S))
