"""The connectors import and run with torch alone (ARCHITECTURE.md: component code is plain
torch)."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# Runs in a fresh interpreter. The OpenMMLab packages are made absent the way Python sees a missing
# package (``find_spec`` gives None, ``import`` raises ModuleNotFoundError), and every attempt to
# import one, even one caught by the importer, is recorded through ``__import__`` and
# ``importlib.import_module``.
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
from kdseg.models.connectors import ChannelMLPConnector

connector = ChannelMLPConnector(4, 6, norm=True)
student = torch.randn(2, 4, 8, 8, requires_grad=True)
out = connector(student)
out.square().sum().backward()
assert out.shape == (2, 6, 8, 8) and student.grad.abs().sum() > 0
loaded = sorted(n for n, m in sys.modules.items() if m is not None and blocked(n))
assert not attempts and not loaded, (attempts, loaded)
print('ok')
'''


def test_channel_mlp_connector_imports_and_runs_with_torch_alone():
    result = subprocess.run([sys.executable, '-c', SCRIPT], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == 'ok', result.stderr[-3000:]
