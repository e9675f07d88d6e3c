"""kdseg.apis.benchmarking.gain_report: mean ± sd over seeds, paired gains, the verdict, table
and chart."""
import json
import os.path as osp

import numpy as np
import pytest

from kdseg.apis.benchmarking.gain_report import (format_table, plot_gains, summarise, write_report)


def _runs(values, step_times):
    return [dict(method=method, seed=seed, mIoU=value, step_time=step_times[method])
            for method, per_seed in values.items() for seed, value in enumerate(per_seed)]


VALUES = {'student': [40.0, 42.0, 41.0], 'big': [46.0, 47.5, 46.4], 'noisy': [38.0, 47.0, 43.0]}
TIMES = {'student': 0.05, 'big': 0.12, 'noisy': 0.08}


def test_rows_match_an_independent_computation():
    rows = {row['method']: row for row in summarise(_runs(VALUES, TIMES))}
    assert list(rows) == ['student', 'big', 'noisy']
    base = np.array(VALUES['student'])
    for name, values in VALUES.items():
        values = np.array(values)
        row = rows[name]
        assert row['n'] == 3 and row['seeds'] == [0, 1, 2]
        assert row['mean'] == pytest.approx(values.mean())
        assert row['sd'] == pytest.approx(values.std(ddof=1))
        assert row['gain'] == pytest.approx(values.mean() - base.mean())
        assert row['paired_sd'] == pytest.approx((values - base).std(ddof=1))
        assert row['time_ratio'] == pytest.approx(TIMES[name] / TIMES['student'])
    # +5.6 against a student sd of 1.0 and a paired sd of 0.32: a gain
    assert rows['big']['exceeds_2sd'] is True
    # +1.7 with a paired sd of 3.5: noise
    assert rows['noisy']['exceeds_2sd'] is False
    assert rows['student']['exceeds_2sd'] is None


def test_gain_must_also_beat_the_paired_spread():
    # every seed moves the same way as the student: paired sd 0, but the student sd is 3
    values = {'student': [30.0, 36.0, 33.0], 'shifted': [35.0, 41.0, 38.0]}
    rows = summarise(_runs(values, {'student': 1.0, 'shifted': 1.0}))
    assert rows[1]['gain'] == pytest.approx(5.0)
    assert rows[1]['paired_sd'] == pytest.approx(0.0)
    assert rows[1]['exceeds_2sd'] is False  # 5 < 2 x 3


def test_one_seed_gives_no_sd_and_no_verdict():
    rows = summarise(_runs({'student': [40.0], 'tat': [45.0]}, {'student': 1.0, 'tat': 2.0}))
    assert rows[1]['sd'] is None and rows[1]['exceeds_2sd'] is None
    table = format_table(rows)
    assert '| tat | 1 | 45.00 (1 seed) | n/a (1 seed) | — |' in table and '+5' not in table


def test_a_missing_baseline_is_an_error():
    with pytest.raises(ValueError, match="no 'student' runs"):
        summarise(_runs({'tat': [1.0, 2.0]}, {'tat': 1.0}))
    with pytest.raises(ValueError, match=r"tat has seeds \[2\] that 'student' lacks"):
        summarise(_runs({'student': [1.0, 2.0], 'tat': [1.0, 2.0, 3.0]},
                        {'student': 1.0, 'tat': 1.0}))


def test_gain_pairs_seeds_and_step_time_is_the_median():
    runs = _runs({'student': [40.0, 50.0, 45.0], 'tat': [41.0, 51.0]},
                 {'student': 1.0, 'tat': 2.0})
    runs[3]['step_time'] = 9.0  # one tat run slowed down by a neighbour
    row = summarise(runs + [dict(method='tat', seed=2, mIoU=46.0, step_time=2.0)])[1]
    assert row['gain'] == pytest.approx(1.0) and row['time_ratio'] == pytest.approx(2.0)
    # tat on seeds 0 and 1 only: compared with the student on those two seeds (diffs 1 and 2)
    runs[4]['mIoU'] = 52.0
    assert summarise(runs)[1]['gain'] == pytest.approx(1.5)


def test_table_chart_and_json(tmp_path):
    runs = _runs(VALUES, TIMES)
    teacher = dict(iters=100, seed=0, mIoU=52.0, step_time=0.2)
    table = format_table(summarise(runs), teacher)
    lines = table.splitlines()
    assert 'mIoU mean ± sd' in lines[0] and len(lines) == 2 + 3 + 1
    assert '| big | 3 | 46.63 ± 0.78 | +5.63 (0.32) | yes | 0.120 s (2.40×) |' in lines
    assert '| noisy | 3 | 42.67 ± 4.51 | +1.67 (3.51) | no |' in table
    assert lines[-1].startswith('| teacher (100 it, seed 0) | 1 | 52.00 |')

    png = plot_gains(summarise(runs), str(tmp_path / 'sub' / 'chart.png'), teacher)
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'

    report = write_report(dict(runs=runs, teacher=teacher), str(tmp_path / 'out'))
    with open(report['json']) as f:
        saved = json.load(f)
    assert saved['runs'] == runs and [r['method'] for r in saved['rows']] == list(VALUES)
    assert report['table'] == table


def test_the_json_names_paths_under_the_working_directory_relatively(tmp_path, monkeypatch):
    """A report committed under docs/ must not carry one machine's checkout path."""
    monkeypatch.chdir(tmp_path)
    here, elsewhere = str(tmp_path / 'work_dirs' / 'a.pth'), '/elsewhere/b.pth'
    runs = [dict(method='student', seed=s, mIoU=40.0 + s, step_time=0.1,
                 checkpoint=here if s else elsewhere, options=[here, 'x=1']) for s in (0, 1)]
    report = write_report(dict(runs=runs, protocol=dict(student_config=str(tmp_path / 's.py'))),
                          'out')
    with open(report['json']) as f:
        saved = json.load(f)
    assert saved['protocol']['student_config'] == 's.py'
    assert [r['checkpoint'] for r in saved['runs']] == [elsewhere, osp.join('work_dirs', 'a.pth')]
    assert saved['runs'][1]['options'] == [osp.join('work_dirs', 'a.pth'), 'x=1']
    assert saved['rows'][1:] == [] and saved['rows'][0]['values'] == [40.0, 41.0]
