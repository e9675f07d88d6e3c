"""CWT's L_feat is mmrazor's ``L2Loss(normalize=False)``; this proves the fit.

CWT (arXiv 2303.13212) compares MLP(F_s) with the raw teacher feature by a plain squared L2
distance, in the FGD/MGD convention: the sum over all elements divided by the batch size B
(kdseg's default, 'sum/B'), or, as an option, the mean over all elements ('mean'). mmrazor's
``L2Loss`` gives the first with ``div_element=False`` and the second with ``div_element=True``,
but only with ``normalize=False``: its default ``normalize=True`` first scales each sample's
flattened feature to unit L2 norm, a different loss, which is why every CWT config states
``normalize=False``. The reference here is written out per sample, in float64, with its
gradients by hand.
"""
import math

import pytest
import torch
from mmrazor.registry import MODELS

import kdseg  # noqa: F401  (compat fixes: mmrazor's losses import on torch 2.x)

SHAPE = (3, 4, 5, 6)  # (B, C, H, W)
ALPHA = 2e-5  # the PSPNet config's loss weight; any scale would do


def l2_loss(**kwargs):
    """mmrazor's L2Loss, built from the registry as a config builds it."""
    return MODELS.build(dict(type='L2Loss', _scope_='mmrazor', loss_weight=ALPHA, **kwargs))


def inputs():
    torch.manual_seed(0)
    student = torch.randn(SHAPE, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(SHAPE, dtype=torch.float64, requires_grad=True)
    return student, teacher


def sum_over_batch(student, teacher):
    """α · (1/B) Σ_b Σ_{c,h,w} (s − t)², and its gradient w.r.t. s: 2α(s − t)/B."""
    per_sample = [((s - t)**2).sum() for s, t in zip(student, teacher)]
    loss = ALPHA * torch.stack(per_sample).mean()
    return loss, 2 * ALPHA * (student - teacher) / SHAPE[0]


def mean_over_elements(student, teacher):
    """α · mean over B·C·H·W elements of (s − t)², and its gradient w.r.t. s."""
    count = math.prod(SHAPE)
    loss = ALPHA * ((student - teacher)**2).sum() / count
    return loss, 2 * ALPHA * (student - teacher) / count


@pytest.mark.parametrize('div_element,reference', [(False, sum_over_batch),
                                                   (True, mean_over_elements)],
                         ids=['sum_over_batch', 'mean'])
def test_l2_loss_without_normalize_is_the_plain_l2_distance(div_element, reference):
    student, teacher = inputs()
    loss = l2_loss(normalize=False, div_element=div_element)(student, teacher)
    expected, grad_student = reference(student.detach(), teacher.detach())
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=0)

    grad_s, grad_t = torch.autograd.grad(loss, (student, teacher))
    torch.testing.assert_close(grad_s, grad_student, rtol=1e-12, atol=0)
    torch.testing.assert_close(grad_t, -grad_student, rtol=1e-12, atol=0)


def test_l2_loss_default_normalize_is_another_loss():
    """Why the configs say normalize=False: the default silently computes something else."""
    student, teacher = inputs()
    default = l2_loss()(student, teacher)
    expected, _ = sum_over_batch(student.detach(), teacher.detach())
    assert not torch.isclose(default, expected, rtol=1e-3)
