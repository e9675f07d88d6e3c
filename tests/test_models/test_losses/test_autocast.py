"""Every loss and component under CPU bfloat16 autocast (what ``tools/train.py --amp`` runs on
the CPU) agrees with float32, values and gradients, to a stated tolerance.

Two kinds. The losses that run in float32 whatever the autocast (their docstrings say so: TaT
and ReviewKD turn autocast off inside and run in their parameters' dtype; FRSKD's KD and
attention-transfer losses and DIST cast their inputs up) must agree with float32 to float32
rounding. The components that run under autocast (CWT's connector and FRSKD's self-teacher are
convolutions, which autocast runs in bfloat16, 8 mantissa bits) agree to bfloat16's precision,
measured and stated per case below. A CUDA float16 run of the same cases is the GPU machine's.
"""
import pytest
import torch

from kdseg.models.connectors import ChannelMLPConnector
from kdseg.models.losses.dist import DenseDISTLoss
from kdseg.models.losses.frskd import AttentionTransferLoss, SoftLabelKDLoss
from kdseg.models.losses.review import ReviewKDLoss
from kdseg.models.losses.tat import TaTLoss
from kdseg.models.self_teachers import BiFPNSelfTeacher

FLOAT32 = (1e-5, 1e-5)  # (value, gradients): float32 rounding and the order of sums
# bfloat16 convolutions (8 mantissa bits). Measured on these cases: CWT's connector 2.7e-5
# (value) and 4.1e-3 (gradients); FRSKD's self-teacher 5.1e-5 and 1.3e-1: its gradients pass two
# BiFPN layers of bfloat16 convolutions and BatchNorm backwards, whose sums of cancelling terms
# lose most of bfloat16's precision (train FRSKD without --amp where that matters).
CONNECTOR = (1e-3, 2e-2)
SELF_TEACHER = (1e-3, 2.5e-1)


def _maps(*shapes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=gen) for shape in shapes]


def _tat():
    student, teacher = _maps((2, 6, 8, 10), (2, 8, 8, 10))
    return TaTLoss(6, 8, num_patches=(2, 2), num_groups=2, num_anchors=(2, 2)), \
        [student], [teacher], lambda m, s, t: m(s[0], t[0])


def _review():
    student = _maps((2, 4, 8, 8), (2, 6, 4, 4))
    teacher = _maps((2, 5, 8, 8), (2, 7, 4, 4), seed=1)
    return ReviewKDLoss((4, 6), (5, 7), mid_channels=3), student, teacher, \
        lambda m, s, t: m(s, t)


def _soft_label():
    student, teacher = _maps((2, 5, 6, 7), (2, 5, 6, 7))
    return SoftLabelKDLoss(temperature=2.0), [student], [teacher], \
        lambda m, s, t: m(s[0], t[0])


def _attention():
    student = _maps((2, 4, 8, 8), (2, 6, 4, 4))
    teacher = _maps((2, 3, 8, 8), (2, 5, 4, 4), seed=1)
    return AttentionTransferLoss(loss_weight=50.0), student, teacher, lambda m, s, t: m(s, t)


def _dist():
    student, teacher = _maps((2, 5, 6, 7), (2, 5, 6, 7))
    return DenseDISTLoss(), [student], [teacher], lambda m, s, t: m(s[0], t[0])


def _cwt():
    student, teacher = _maps((2, 6, 5, 5), (2, 8, 5, 5))
    return ChannelMLPConnector(6, 8), [student], [teacher], \
        lambda m, s, t: (m(s[0]).float() - t[0]).square().sum() / 2


def _bifpn():
    student = _maps((2, 4, 8, 8), (2, 6, 4, 4))
    return BiFPNSelfTeacher((4, 6)), student, [], \
        lambda m, s, t: sum(o.float().square().mean() for o in m(s))


# case: (builder, (relative tolerance of the value, of the gradients' L2 norm))
CASES = {
    'TaTLoss': (_tat, FLOAT32),
    'ReviewKDLoss': (_review, FLOAT32),
    'SoftLabelKDLoss': (_soft_label, FLOAT32),
    'AttentionTransferLoss': (_attention, FLOAT32),
    'DenseDISTLoss': (_dist, FLOAT32),
    'ChannelMLPConnector': (_cwt, CONNECTOR),
    'BiFPNSelfTeacher': (_bifpn, SELF_TEACHER),
}


def _run(build, autocast: bool):
    torch.manual_seed(0)
    module, student, teacher, loss_of = build()
    module.train()
    student = [s.clone().requires_grad_() for s in student]
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
        value = loss_of(module, student, teacher)
    value.backward()
    grads = [s.grad for s in student] + [p.grad for p in module.parameters()
                                        if p.grad is not None]
    return value.detach(), grads


@pytest.mark.parametrize('name', sorted(CASES))
def test_bfloat16_autocast_agrees_with_float32(name):
    build, (value_tolerance, grad_tolerance) = CASES[name]
    reference, reference_grads = _run(build, autocast=False)
    value, grads = _run(build, autocast=True)
    assert value.dtype == torch.float32, name  # every loss returns float32 under autocast
    torch.testing.assert_close(value, reference, rtol=value_tolerance, atol=0)
    assert len(grads) == len(reference_grads)
    assert all(g.dtype == e.dtype == torch.float32 for g, e in zip(grads, reference_grads))
    grads, expected = torch.cat([g.flatten() for g in grads]), \
        torch.cat([e.flatten() for e in reference_grads])
    error = float((grads - expected).norm() / expected.norm())
    assert error <= grad_tolerance, (name, error)
    if FLOAT32 != (value_tolerance, grad_tolerance):  # it really ran in bfloat16
        assert not torch.equal(value, reference) and error > 0, name
