"""Training-step time of configs side by side, as a ratio to a baseline (the student alone).

    python tools/benchmark_step_time.py BASELINE CONFIG [CONFIG ...] [--iters 100] [--rounds 2]
        [--work-dir work_dirs/step_time] [--cfg-options key=value ...]

Every round trains each config for ``--iters`` iterations with ``tools/train.py`` (seed 0, no
validation), one after the other, so that load on the machine falls on all of them alike; a run's
step time is the median of mmengine's logged ``time`` over its second half
(:func:`kdseg.apis.benchmarking.kd_gain.step_time`), and a config's the median over the
rounds. The table gives each config's step time and its ratio to BASELINE, with the host CPU and
the load average before and after. ``--cfg-options`` apply to every config (e.g. the data root, or
``model.teacher_ckpt=...`` for a teacher-student distiller, whose teacher is otherwise random:
the time is the same).

Example (FRSKD against the demo student it trains)::

    python tools/benchmark_step_time.py configs/demo_models/pspnet_r18-narrow_synthcity.py \\
        configs/frskd/demo/frskd_pspnet_r18-narrow_synthcity.py
"""
import argparse
import os.path as osp
import statistics
import sys
import tempfile
from typing import Dict, List

import kdseg  # noqa: F401  (compat fixes, registries)
from kdseg.apis.benchmarking.kd_gain import NO_VAL, ROOT, run_step, step_time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from benchmark_losses import host, load  # noqa: E402  (the loss benchmark's header line)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('baseline', help='the config the others are compared with')
    parser.add_argument('configs', nargs='+', help='configs to time against the baseline')
    parser.add_argument('--iters', type=int, default=100, help='iterations per run (>= 4)')
    parser.add_argument('--rounds', type=int, default=2, help='runs per config, interleaved')
    parser.add_argument('--work-dir', help='keep the runs here (default: a temporary folder)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='config changes for every run')
    args = parser.parse_args(argv)
    if args.iters < 4 or args.rounds < 1:
        parser.error('--iters must be >= 4 and --rounds >= 1')
    return args


def time_configs(configs: List[str], iters: int, rounds: int, work_dir: str,
                 options: List[str]) -> Dict[str, List[float]]:
    """Per config, its step time in each round (configs interleaved within a round)."""
    times: Dict[str, List[float]] = {config: [] for config in configs}
    for round_ in range(rounds):
        for i, config in enumerate(configs):
            run_dir = osp.join(work_dir, f'round{round_}_{i}')
            run_step([sys.executable, osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir',
                  run_dir, '--iters', str(iters), '--cfg-options', 'randomness.seed=0',
                  f'train_cfg.val_begin={NO_VAL}', 'default_hooks.logger.interval=1',
                  *options], osp.join(run_dir, 'train.log'))
            times[config].append(step_time(run_dir))
    return times


def table(times: Dict[str, List[float]], baseline: str) -> str:
    base = statistics.median(times[baseline])
    rows = ['| config | step time (s, median of rounds) | rounds | × baseline |',
            '|---|---|---|---|']
    for config, values in times.items():
        median = statistics.median(values)
        rows.append(f'| {osp.basename(config)} | {median:.4f} | '
                    f'{", ".join(f"{v:.4f}" for v in values)} | {median / base:.2f}× |')
    return '\n'.join(rows)


def main(argv=None) -> Dict[str, List[float]]:
    args = parse_args(argv)
    configs = [args.baseline, *args.configs]
    for config in configs:
        if not osp.isfile(config):
            raise FileNotFoundError(f'config {config!r} does not exist')
    before = load()
    with tempfile.TemporaryDirectory() as scratch:
        times = time_configs(configs, args.iters, args.rounds, args.work_dir or scratch,
                             args.cfg_options)
    print(f'\nhost {host()}; {args.iters} iterations per run, {args.rounds} round(s); load '
          f'average (1/5/15 min) {before} before, {load()} after')
    print(table(times, args.baseline))
    return times


if __name__ == '__main__':
    main()
