"""kdseg.models registers the torch-only components in mmrazor's MODELS under their public
names; the list is kdseg's registry (kdseg.registry), and the README's method table and model zoo
name every declared method."""
import os.path as osp

import torch
from mmrazor.registry import MODELS

import kdseg  # noqa: F401  (registers the components)
from kdseg.models.connectors import ChannelMLPConnector
from kdseg.models.losses.frskd import AttentionTransferLoss, SoftLabelKDLoss
from kdseg.models.losses.tat import TaTLoss
from kdseg.registry import COMPONENTS, METHODS

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


def test_every_registered_component_is_in_mmrazors_registry_under_its_name():
    assert len(COMPONENTS) >= 7
    for name, component in COMPONENTS.items():
        assert MODELS.get(name) is component.cls, name
        assert component.method in METHODS, name
    for method in METHODS.values():  # kdseg's own methods have a component; baselines none
        assert any(c.method == method.key for c in COMPONENTS.values()) != method.baseline


def test_the_readme_names_every_method():
    with open(osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                       'README.md'), encoding='utf-8') as f:
        readme = f.read()
    table, zoo = readme.split('## The two commands')[0], readme.split('## Model zoo')[1]
    for method in METHODS.values():
        if not method.baseline:
            assert f'| {method.name}' in table, f'README method table lacks {method.name}'
        assert f'`{method.key}/' in zoo, f'README model zoo lacks configs/{method.key}/'
