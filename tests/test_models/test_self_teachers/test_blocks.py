"""The fast normalised fusion node: w = ReLU(θ) / (Σ ReLU(θ) + 1e-6), out = Σ w_k·x_k."""
import pytest
import torch

from kdseg.models.self_teachers.blocks import FastNormalizedFusion, SeparableConvStack


@pytest.mark.parametrize('n', [2, 3])
def test_weights_start_at_ones_and_are_normalised(n):
    fusion = FastNormalizedFusion(n)
    assert fusion.weight.tolist() == [1.0] * n
    expected = torch.full((n,), 1 / (n + 1e-6))
    torch.testing.assert_close(fusion.normalized_weights().detach(), expected, rtol=1e-7, atol=0)


def test_weights_are_nonnegative_and_sum_to_at_most_one():
    fusion = FastNormalizedFusion(3).double()
    with torch.no_grad():
        fusion.weight.copy_(torch.tensor([2.0, -1.0, 1.0]))
    weights = fusion.normalized_weights()
    expected = torch.tensor([2.0, 0.0, 1.0], dtype=torch.float64) / (3.0 + 1e-6)
    torch.testing.assert_close(weights, expected, rtol=1e-12, atol=0)
    assert (weights >= 0).all() and weights.sum() <= 1
    xs = [torch.randn(2, 4, 5, 6, dtype=torch.float64) for _ in range(3)]
    torch.testing.assert_close(fusion(xs), expected[0] * xs[0] + expected[2] * xs[2], rtol=1e-12,
                               atol=1e-15)


def test_gradients_reach_the_weights_except_where_the_relu_clamps_them():
    fusion = FastNormalizedFusion(3).double()
    with torch.no_grad():
        fusion.weight.copy_(torch.tensor([0.5, -0.3, 1.5]))
    xs = [torch.randn(2, 4, 5, 6, dtype=torch.float64) for _ in range(3)]
    (fusion(xs) * torch.randn(2, 4, 5, 6, dtype=torch.float64)).sum().backward()
    grad = fusion.weight.grad
    assert grad[0] != 0 and grad[2] != 0 and grad[1] == 0
    # the normalisation couples the kept weights: against the quotient rule written out
    upstream = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    g, = torch.autograd.grad(fusion.normalized_weights(), fusion.weight, upstream)
    s = 0.5 + 1.5 + 1e-6  # Σ ReLU(θ) + ε
    manual = torch.tensor([(1.0 * s - (0.5 * 1 + 1.5 * 3)) / s**2, 0.0,
                           (3.0 * s - (0.5 * 1 + 1.5 * 3)) / s**2], dtype=torch.float64)
    torch.testing.assert_close(g, manual, rtol=1e-12, atol=0)


def test_wrong_number_of_inputs_is_an_error():
    with pytest.raises(ValueError, match='this fusion node has 3 inputs, got 2 maps'):
        FastNormalizedFusion(3)([torch.zeros(1), torch.zeros(1)])


@pytest.mark.parametrize('depth', [1, 2, 3])
def test_separable_stack_has_a_relu_before_every_unit_but_the_first(depth):
    stack = SeparableConvStack(4, depth)
    assert len(stack.units) == depth
    relus = [isinstance(unit.relu, torch.nn.ReLU) for unit in stack.units]
    assert relus == [False] + [True] * (depth - 1)
