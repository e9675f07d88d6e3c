"""Extend, never patch: ``import kdseg`` leaves mmrazor's own algorithms and configs as they are.

Each comparison runs tests/upstream_builds.py in two fresh interpreters, one without kdseg and
one after ``import kdseg``, and requires the same result. Before kdseg's distillers became
subclasses, importing kdseg replaced ``SingleTeacherDistill.__init__``, and mmrazor's
``OverhaulFeatureDistillation`` (which passes ``teacher_ckpt`` to its parent by position) failed
to build with "got multiple values for argument 'teacher_ckpt'".
"""
import json
import os.path as osp
import subprocess
import sys

import pytest

SCRIPT = osp.join(osp.dirname(osp.abspath(__file__)), 'upstream_builds.py')

# The only class attributes `import kdseg` may change: the two fixes of kdseg.compat that have no
# extension point and live on a class (the other two are sys.modules and numpy entries).
COMPAT_ATTRIBUTES = [
    'mmengine.config.config.Config._get_cfg_path',  # kdseg_config_prefix
    'mmengine.runner.checkpoint.CheckpointLoader.load_checkpoint',  # secure_checkpoint_loading
]


def _run(tmp_path, mode: str, what: str):
    out = tmp_path / f'{mode}_{what}.json'
    proc = subprocess.run([sys.executable, SCRIPT, mode, what, str(out)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return json.loads(out.read_text())


def test_import_kdseg_changes_no_upstream_class_but_the_two_compat_fixes(tmp_path):
    assert _run(tmp_path, 'plain', 'attributes') == COMPAT_ATTRIBUTES


def test_every_mmrazor_distillation_algorithm_builds_and_runs_as_without_kdseg(tmp_path):
    plain, extended = _run(tmp_path, 'plain', 'algorithms'), _run(tmp_path, 'kdseg', 'algorithms')
    assert plain['registered'] == [
        'DAFLDataFreeDistillation', 'DataFreeDistillation', 'FpnTeacherDistill',
        'OverhaulFeatureDistillation', 'SelfDistill', 'SingleTeacherDistill']
    for name in plain['registered']:
        assert extended[name] == plain[name], name
        assert plain[name]['type'] == name
    for name in ('OverhaulFeatureDistillation', 'SelfDistill', 'SingleTeacherDistill'):
        assert any(k.startswith('distill.') for k in plain[name]['losses']), name


@pytest.mark.e2e
def test_every_mmrazor_mmseg_and_mmdet_config_builds_as_without_kdseg(tmp_path):
    plain, extended = _run(tmp_path, 'plain', 'configs'), _run(tmp_path, 'kdseg', 'configs')
    assert extended == plain
    built = [name for name, result in plain.items() if isinstance(result, dict)]
    assert 'mmseg/cwd/cwd_logits_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py' \
        in built and len(built) >= 7, plain
