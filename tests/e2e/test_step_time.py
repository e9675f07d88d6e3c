"""tools/benchmark_step_time.py: configs trained side by side, a table of step-time ratios."""
import os.path as osp
import sys

import pytest

from .conftest import CONFIGS, ROOT

pytestmark = pytest.mark.e2e


def test_step_time_table_times_each_config_in_every_round(tools):
    student = osp.join(CONFIGS, 'demo_models/pspnet_r18-narrow_synthcity.py')
    frskd = osp.join(CONFIGS, 'frskd/demo/frskd_pspnet_r18-narrow_synthcity.py')
    out = tools.run([sys.executable, osp.join(ROOT, 'tools', 'benchmark_step_time.py'), student,
                     frskd, '--iters', '4', '--rounds', '2', '--work-dir', 'step_time'])
    assert 'host ' in out and 'load average' in out
    rows = {line.split('|')[1].strip(): line.split('|')[2:5] for line in out.splitlines()
            if line.startswith('| ') and line.split('|')[1].strip().endswith('.py')}
    assert list(rows) == [osp.basename(student), osp.basename(frskd)]
    assert rows[osp.basename(student)][2].strip() == '1.00×'
    for median, rounds, ratio in rows.values():
        assert float(median) > 0 and len(rounds.split(',')) == 2
    # every round trained every config: four runs, each with its own log
    for run in ('round0_0', 'round0_1', 'round1_0', 'round1_1'):
        assert osp.isfile(osp.join(tools.cwd, 'step_time', run, 'train.log'))
