"""Every registered component imports with torch alone (ARCHITECTURE.md: loss and connector code
is plain torch; only kdseg.models registers it into mmrazor), found through kdseg's registry, so
a new method package is checked without being listed here. That each runs forward and backward
is its own tests' business; here, no method module imports an OpenMMLab package anywhere."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import kdseg.models  # noqa: F401  (imports every method package)
from kdseg.registry import COMPONENTS, METHODS

REPO = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter. The OpenMMLab packages are made absent the way Python sees a missing
# package (``find_spec`` gives None, ``import`` raises ModuleNotFoundError), and every attempt to
# import one, even one caught by the importer, is recorded through ``__import__`` and
# ``importlib.import_module``. ``import kdseg.models`` imports every method package (the thin
# layer walks them); the script prints what kdseg's registry then holds.
SCRIPT = r'''
import builtins, importlib, json, sys
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

import kdseg.models
from kdseg.registry import COMPONENTS, METHODS
loaded = sorted(n for n, m in sys.modules.items() if m is not None and blocked(n))
assert not attempts and not loaded, (attempts, loaded)
print(json.dumps(dict(components={n: c.cls.__module__ for n, c in COMPONENTS.items()},
                      methods=sorted(METHODS))))
'''
METHOD_FOLDERS = ('connectors', 'losses', 'self_teachers')


def test_every_registered_component_imports_with_torch_alone():
    result = subprocess.run([sys.executable, '-c', SCRIPT], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    torch_only = json.loads(result.stdout.strip().splitlines()[-1])
    # the same components and methods as with the OpenMMLab stack present
    assert torch_only['components'] == {n: c.cls.__module__ for n, c in COMPONENTS.items()}
    assert torch_only['methods'] == sorted(METHODS)
    assert {'TaTLoss', 'ReviewKDLoss', 'ChannelMLPConnector', 'BiFPNSelfTeacher',
            'SoftLabelKDLoss', 'AttentionTransferLoss', 'DenseDISTLoss'} <= set(COMPONENTS)


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def test_no_method_module_imports_openmmlab_anywhere_not_even_inside_a_function():
    files = [REPO / 'kdseg' / 'registry.py'] + [
        path for folder in METHOD_FOLDERS for path in (REPO / 'kdseg' / 'models' / folder)
        .rglob('*.py')]
    assert len(files) > 20
    for path in files:
        bad = [name for name in _imports(path) if name.split('.')[0] in (
            'mmcv', 'mmengine', 'mmrazor', 'mmdet', 'mmseg')]
        assert not bad, (path, bad)
    # every registered component lives in one of these files
    for component in COMPONENTS.values():
        module = Path(sys.modules[component.cls.__module__].__file__)
        assert module in files, (component.name, module)
