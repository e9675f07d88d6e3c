"""Distillation gains as claims about noise: mean ± sd over seeds, against the student alone.

:func:`summarise` turns the runs of :func:`kdseg.apis.benchmarking.kd_gain.run_protocol` into
one row per method; :func:`format_table` prints them, :func:`plot_gains` draws the bar chart with
error bars and :func:`write_report` writes both with the JSON of every run.

A method's *gain* is its mean minus the student-alone mean. It *exceeds 2 sd* when it is larger
than twice the student-alone standard deviation (the seed-to-seed spread of the baseline) and
than twice the sd of the paired per-seed differences (the arms of one seed start alike, so this
sd is the noise of the comparison itself). With fewer than 2 seeds there is no sd and no verdict.
"""
import json
import os
import os.path as osp
import statistics
import textwrap
from typing import Dict, List, Optional, Sequence

__all__ = ['format_table', 'plot_gains', 'summarise', 'write_report']

METRIC = 'mIoU'


def _sd(values: Sequence[float]) -> Optional[float]:
    """Sample standard deviation (n - 1), None below two values."""
    return statistics.stdev(values) if len(values) > 1 else None


def summarise(runs: List[dict], baseline: str = 'student', metric: str = METRIC) -> List[dict]:
    """One row per method, in first-seen order, the baseline first.

    Row keys: ``method, n, seeds, values, mean, sd, gain, paired_sd, exceeds_2sd,
    step_time, time_ratio``. ``gain`` is the mean of the per-seed differences from the baseline
    (every seed of a method needs a baseline run); ``step_time`` is the median over seeds of each
    run's logged step time (robust to one run slowed by a neighbour), ``time_ratio`` it over the
    baseline's.
    """
    methods: Dict[str, List[dict]] = {}
    for run in runs:
        methods.setdefault(run['method'], []).append(run)
    if baseline not in methods:
        raise ValueError(f'no {baseline!r} runs to measure gains against')
    base = {r['seed']: r[metric] for r in methods[baseline]}
    base_sd = _sd(list(base.values()))
    base_time = statistics.median(r['step_time'] for r in methods[baseline])
    rows = []
    for name in [baseline] + [m for m in methods if m != baseline]:
        group = sorted(methods[name], key=lambda r: r['seed'])
        values = [r[metric] for r in group]
        missing = [r['seed'] for r in group if r['seed'] not in base]
        if missing:
            raise ValueError(f'{name} has seeds {missing} that {baseline!r} lacks: no pairs')
        diffs = [r[metric] - base[r['seed']] for r in group]
        mean = statistics.mean(values)
        gain = statistics.mean(diffs)  # = the mean minus the baseline's mean on these seeds
        paired_sd = _sd(diffs)
        exceeds = None
        if name != baseline and base_sd is not None and paired_sd is not None:
            exceeds = gain > 2 * base_sd and gain > 2 * paired_sd
        step = statistics.median(r['step_time'] for r in group)
        rows.append(dict(method=name, n=len(values), seeds=[r['seed'] for r in group],
                         values=values, mean=mean, sd=_sd(values), gain=gain,
                         paired_sd=paired_sd, exceeds_2sd=exceeds, step_time=step,
                         time_ratio=step / base_time))
    return rows


def _pm(mean: float, sd: Optional[float]) -> str:
    return f'{mean:.2f} ± {sd:.2f}' if sd is not None else f'{mean:.2f} (1 seed)'


def format_table(rows: List[dict], teacher: Optional[dict] = None,
                 metric: str = METRIC) -> str:
    """A markdown table of :func:`summarise`'s rows: metric mean ± sd, the gain with its paired
    sd, the verdict and the training-step time relative to the student alone. A gain needs two
    paired seeds; one seed's difference is not printed."""
    lines = [f'| method | seeds | {metric} mean ± sd | gain (paired sd) | gain > 2 sd | '
             f'step time (× student) |', '|---|---|---|---|---|---|']
    for index, row in enumerate(rows):  # rows[0] is the baseline (summarise)
        if index == 0:
            gain = '—'
        elif row['paired_sd'] is None:  # one seed: a difference, not a result
            gain = 'n/a (1 seed)'
        else:
            gain = f'{row["gain"]:+.2f} ({row["paired_sd"]:.2f})'
        verdict = {None: '—', True: 'yes', False: 'no'}[row['exceeds_2sd']]
        lines.append(f'| {row["method"]} | {row["n"]} | {_pm(row["mean"], row["sd"])} | '
                     f'{gain} | {verdict} | {row["step_time"]:.3f} s '
                     f'({row["time_ratio"]:.2f}×) |')
    if teacher is not None:
        lines.append(f'| teacher ({teacher["iters"]} it, seed {teacher["seed"]}) | 1 | '
                     f'{teacher[metric]:.2f} | | | {teacher["step_time"]:.3f} s |')
    return '\n'.join(lines)


def plot_gains(rows: List[dict], path: str, teacher: Optional[dict] = None,
               title: str = '', metric: str = METRIC) -> str:
    """Bar chart of the metric's mean per method with ±1 sd error bars and every seed's value
    as a dot; the teacher as a dashed line. Writes a PNG to ``path`` and returns it."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.5, 1.6 + 1.3 * len(rows)), 4.0), dpi=120)
    xs = range(len(rows))
    ax.bar(xs, [r['mean'] for r in rows], yerr=[r['sd'] or 0.0 for r in rows], capsize=6,
           color=['#9e9e9e'] + ['#3f7fbf'] * (len(rows) - 1), alpha=0.85)
    for x, row in zip(xs, rows):
        ax.scatter([x] * row['n'], row['values'], color='black', s=12, zorder=3)
    if teacher is not None:
        ax.axhline(teacher[metric], color='#c0392b', linestyle='--', label='teacher')
        ax.legend(loc='lower right')
    low = min(min(r['values']) for r in rows)
    ax.set_ylim(max(0.0, low - 10), None)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([r['method'] for r in rows], rotation=15)
    ax.set_ylabel(f'{metric} (mean ± sd over seeds)')
    ax.set_title(textwrap.fill(title or f'{metric}: student alone vs distilled', 60), fontsize=9)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _relative(value, root: str):
    """``value`` with every string that is a path under ``root`` made relative to it (a report
    committed under docs/ then names configs and checkpoints as the repository does, not as one
    machine's checkout did); dicts and lists are walked, anything else is kept."""
    if isinstance(value, dict):
        return {k: _relative(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, root) for v in value]
    if isinstance(value, str) and value.startswith(root + os.sep):
        return osp.relpath(value, root)
    return value


def write_report(result: dict, out_dir: str, title: str = '') -> Dict[str, str]:
    """Write ``kd_gain.json`` (every run, the rows, the protocol) and ``kd_gain.png`` under
    ``out_dir`` (``kd_gain_pretrained.*`` for the pretrained regime, so the two regimes' reports
    of one work dir stand side by side); returns their paths and the table.
    ``result['metric']`` (default mIoU) names the runs' score. Paths under the current directory
    are written relative to it."""
    metric = result.get('metric', METRIC)
    rows = summarise(result['runs'], metric=metric)
    teacher = result.get('teacher')
    os.makedirs(out_dir, exist_ok=True)
    stem = 'kd_gain_pretrained' if result.get('regime') == 'pretrained' else 'kd_gain'
    png = plot_gains(rows, osp.join(out_dir, stem + '.png'), teacher, title, metric)
    path = osp.join(out_dir, stem + '.json')
    with open(path, 'w') as f:
        json.dump(_relative(dict(result, rows=rows), os.getcwd()), f, indent=1)
    return dict(json=path, png=png, table=format_table(rows, teacher, metric))
