"""Each method's components import and run with torch alone (ARCHITECTURE.md: loss and
connector code is plain torch; only kdseg.models registers it into mmrazor)."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter. The OpenMMLab packages are made absent the way Python sees a missing
# package (``find_spec`` gives None, ``import`` raises ModuleNotFoundError), and every attempt to
# import one, even one caught by the importer, is recorded through ``__import__`` and
# ``importlib.import_module``. {use} imports one component and runs a forward and backward pass
# that sets ``student.grad``.
SCRIPT = r'''
import builtins, importlib, sys
BLOCKED = ('mmcv', 'mmengine', 'mmrazor', 'mmdet', 'mmseg')
for name in BLOCKED:
    sys.modules[name] = None
attempts = []

def blocked(name):
    return name.split('.')[0] in BLOCKED

real_import, real_import_module = builtins.__import__, importlib.import_module

def traced_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and blocked(name):
        attempts.append(name)
    return real_import(name, globals, locals, fromlist, level)

def traced_import_module(name, package=None):
    if blocked(name):
        attempts.append(name)
    return real_import_module(name, package)

builtins.__import__, importlib.import_module = traced_import, traced_import_module

import torch
student = torch.randn(2, 4, 8, 8, requires_grad=True)
{use}
assert student.grad.abs().sum() > 0
loaded = sorted(n for n, m in sys.modules.items() if m is not None and blocked(n))
assert not attempts and not loaded, (attempts, loaded)
print('ok')
'''

USES = {
    'tat': '''
from kdseg.models.losses.tat import TaTLoss
loss = TaTLoss(4, 6, num_patches=(2, 2), num_groups=2, num_anchors=(2, 2), reference=True)
loss(student, torch.randn(2, 6, 8, 8)).backward()
''',
    'review': '''
from kdseg.models.losses.review import ReviewKDLoss
loss = ReviewKDLoss((4, 4), (6, 6), mid_channels=3)
teacher = [torch.randn(2, 6, 8, 8), torch.randn(2, 6, 4, 4)]
loss([student, student[..., ::2, ::2]], teacher).backward()
''',
    'bifpn_self_teacher': '''
from kdseg.models.self_teachers import BiFPNSelfTeacher
outs = BiFPNSelfTeacher((4, 4))([student, student[..., ::2, ::2]])
assert [o.shape for o in outs] == [(2, 8, 8, 8), (2, 8, 4, 4)]
sum(o.square().sum() for o in outs).backward()
''',
    'channel_mlp': '''
from kdseg.models.connectors import ChannelMLPConnector
out = ChannelMLPConnector(4, 6, norm=True)(student)
assert out.shape == (2, 6, 8, 8)
out.square().sum().backward()
''',
    'frskd_attention': '''
from kdseg.models.losses.frskd import AttentionTransferLoss
loss = AttentionTransferLoss(loss_weight=2.0)
teacher = [torch.randn(2, 6, 8, 8), torch.randn(2, 3, 4, 4)]
loss([student, student[..., ::2, ::2]], teacher).backward()
''',
    'frskd_kd': '''
from kdseg.models.losses.frskd import SoftLabelKDLoss
loss = SoftLabelKDLoss(temperature=4, loss_weight=0.5)
value = loss(student.bfloat16(), torch.randn(2, 4, 8, 8))
assert value.dtype == torch.float32
value.backward()
''',
}


@pytest.mark.parametrize('component', sorted(USES))
def test_component_imports_and_runs_with_torch_alone(component):
    result = subprocess.run([sys.executable, '-c', SCRIPT.replace('{use}', USES[component])],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == 'ok', result.stderr[-3000:]
