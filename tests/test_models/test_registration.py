"""kdseg.models registers the torch-only components in mmrazor's MODELS under their public
names."""
import torch
from mmrazor.registry import MODELS

import kdseg  # noqa: F401  (registers the components)
from kdseg.models.connectors import ChannelMLPConnector
from kdseg.models.losses.frskd import AttentionTransferLoss, SoftLabelKDLoss
from kdseg.models.losses.tat import TaTLoss

from .test_losses.test_frskd.reference import attention_transfer, soft_label_kd
from .test_losses.test_tat.naive import make_inputs


def test_registry_builds_tat_loss():
    # _scope_: earlier tests may leave another default scope (mmdet, mmseg) active
    loss = MODELS.build(dict(type='TaTLoss', _scope_='mmrazor', student_channels=6,
                             teacher_channels=8, num_patches=(4, 3), num_groups=4,
                             num_anchors=(3, 2), loss_weight=0.1, anchor_weight=0.4,
                             reference=True))
    assert isinstance(loss, TaTLoss)
    assert 'num_groups=4' in repr(loss) and "bn_stats='sample'" in repr(loss)
    student, teacher = make_inputs(dtype=torch.float32)
    assert torch.isfinite(loss(student, teacher))


def test_registry_builds_channel_mlp_connector():
    connector = MODELS.build(dict(type='ChannelMLPConnector', _scope_='mmrazor',
                                  student_channels=6, teacher_channels=8, norm=True))
    assert isinstance(connector, ChannelMLPConnector)
    assert connector(torch.randn(2, 6, 4, 5)).shape == (2, 8, 4, 5)


def test_registry_builds_frskd_losses():
    kd = MODELS.build(dict(type='SoftLabelKDLoss', _scope_='mmrazor', temperature=4,
                           loss_weight=0.5))
    at = MODELS.build(dict(type='AttentionTransferLoss', _scope_='mmrazor', loss_weight=50.0))
    assert isinstance(kd, SoftLabelKDLoss) and isinstance(at, AttentionTransferLoss)
    assert kd.temperature == 4.0 and kd.loss_weight == 0.5 and at.loss_weight == 50.0
    gen = torch.Generator().manual_seed(0)
    logits = [torch.randn(2, 5, 4, 3, generator=gen, dtype=torch.float64) for _ in range(2)]
    torch.testing.assert_close(kd(*logits), soft_label_kd(*logits, 4, 0.5), rtol=1e-6, atol=0)
    student = [torch.randn(2, 4, 6, 5, generator=gen, dtype=torch.float64),
               torch.randn(2, 6, 3, 3, generator=gen, dtype=torch.float64)]
    teacher = [torch.randn(2, 7, 6, 5, generator=gen, dtype=torch.float64),
               torch.randn(2, 2, 3, 3, generator=gen, dtype=torch.float64)]
    torch.testing.assert_close(at(student, teacher), attention_transfer(student, teacher, 50.0),
                               rtol=1e-6, atol=0)
