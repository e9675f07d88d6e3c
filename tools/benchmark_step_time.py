"""Training-step time of configs side by side.

Whole step, in-process, per method (``--device``)::

    python tools/benchmark_step_time.py --device cpu|cuda [--scale demo|real] [--batch 2]
        [--steps 5] [CONFIG ...]

For every declared method's PSPNet and Faster R-CNN configs (``--scale real``: the real-scale
configs at 512×1024 and 800×1333; ``demo``: their CPU-sized twins at 64×128 and 192×256), or the
CONFIGs given: the distillation step, the student-alone step and the teacher's forward on one
synthetic batch with random weights, and the ratio distillation ÷ (student + teacher forward)
(:mod:`kdseg.apis.benchmarking.train_step`). Prints a table with the host.

Through the tools, as a ratio to a baseline (the student alone)::

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
    parser.add_argument('configs', nargs='*', help='BASELINE CONFIG [CONFIG ...] (through the '
                        'tools), or with --device the distillation configs to time (default: '
                        'every method\'s)')
    parser.add_argument('--device', choices=('cpu', 'cuda'),
                        help='the whole step in-process, per method, on this device')
    parser.add_argument('--scale', choices=('demo', 'real'), default='demo',
                        help='with --device: the demo twins or the real-scale configs')
    parser.add_argument('--batch', type=int, default=2, help='with --device: images per batch')
    parser.add_argument('--steps', type=int, default=5, help='with --device: timed steps')
    parser.add_argument('--iters', type=int, default=100, help='iterations per run (>= 4)')
    parser.add_argument('--rounds', type=int, default=2, help='runs per config, interleaved')
    parser.add_argument('--work-dir', help='keep the runs here (default: a temporary folder)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='config changes for every run')
    args = parser.parse_args(argv)
    if args.device is None and len(args.configs) < 2:
        parser.error('give BASELINE and at least one CONFIG, or --device')
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


SIZES = {('demo', 'mmseg'): (64, 128), ('demo', 'mmdet'): (192, 256),
         ('real', 'mmseg'): (512, 1024), ('real', 'mmdet'): (800, 1333)}


def whole_step(args: argparse.Namespace) -> List[dict]:
    """The in-process table (module docstring, first form)."""
    from mmengine.config import Config

    from kdseg.apis.benchmarking.train_step import method_configs, time_config
    configs = ([(osp.basename(c), c) for c in args.configs] if args.configs else
               method_configs(osp.join(ROOT, 'configs'), args.scale))
    before = load()
    rows = []
    for method, config in configs:
        scope = Config.fromfile(config).get('default_scope', 'mmseg')
        size = SIZES[(args.scale, scope)]
        times = time_config(config, size, args.batch, args.steps, device=args.device,
                            log=lambda line: print(line, flush=True))
        rows.append(dict(method=method, config=osp.relpath(config, ROOT), size=size, **times))
    print(f'\nhost {host()}; device {args.device}; batch {args.batch} at the sizes shown; '
          f'median of {args.steps} steps after 2; load average (1/5/15 min) {before} before, '
          f'{load()} after')
    print('| method | config | H×W | distillation step (s) | student step (s) | teacher forward '
          '(s) | distillation ÷ (student + teacher fwd) |\n|---|---|---|---|---|---|---|')
    for row in rows:
        print(f'| {row["method"]} | {osp.basename(row["config"])} | {row["size"][0]}×'
              f'{row["size"][1]} | {row["distill"]:.4f} | {row["student"]:.4f} | '
              f'{row["teacher_forward"]:.4f} | {row["ratio"]:.2f} |')
    return rows


def main(argv=None):
    args = parse_args(argv)
    if args.device is not None:
        return whole_step(args)
    configs = args.configs
    for config in configs:
        if not osp.isfile(config):
            raise FileNotFoundError(f'config {config!r} does not exist')
    before = load()
    with tempfile.TemporaryDirectory() as scratch:
        times = time_configs(configs, args.iters, args.rounds, args.work_dir or scratch,
                             args.cfg_options)
    print(f'\nhost {host()}; {args.iters} iterations per run, {args.rounds} round(s); load '
          f'average (1/5/15 min) {before} before, {load()} after')
    print(table(times, configs[0]))
    return times


if __name__ == '__main__':
    main()
