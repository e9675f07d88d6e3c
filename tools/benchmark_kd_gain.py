"""Does distillation make the student better? Paired arms, several seeds, mean ± sd.

    python tools/benchmark_kd_gain.py [--method "NAME=CONFIG [KEY=VALUE ...]" ...] [--seeds 0 1 2]
        [--teacher-iters 3000] [--student-iters 1200] [--pretrain-iters 0] [--split report|select]
        [--work-dir work_dirs/kd_gain] [--cfg-options key=value ...]

Trains the teacher once (cached by config, budget, seed and data), then for every seed the
student alone and the student with each distillation config, all from the same initial student
weights, batches, augmentations and dropout masks, with the same budget; evaluates every final
student with tools/test.py and the student's config; prints mean ± sd per method, the gain over
the student alone with the sd of the paired differences, whether it exceeds 2 sd, and each
method's training-step time relative to the student alone; writes kd_gain.png (bars with error
bars, every seed as a dot) and kd_gain.json (every run) to the work dir.

``--pretrain-iters N`` (N > 0) is the pretrained regime, where users train: the teacher's and the
student's backbones start from weights learnt in N iterations on a source dataset (the same
generator with another seed and another appearance), as a real config's start from ImageNet;
0 (the default) trains every model from random weights, the scratch regime.

``--split select`` evaluates on the selection val set (same generator, another seed): choose
loss weights and layers there; report with the default ``--split report``, which those choices
never saw. The protocol and its measured spread are in docs/benchmarks.md.
"""
import argparse
import os.path as osp
import time

from mmengine.config import Config

import kdseg  # noqa: F401  (compat fixes, registries)
from kdseg.apis.benchmarking.gain_report import write_report
from kdseg.apis.benchmarking.kd_gain import Protocol, run_protocol
from kdseg.registry import METHODS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs')
# one arm per declared method (kdseg.registry: kdseg's methods and mmrazor's CWD and PKD), its
# PSPNet demo twin; FRSKD's has no teacher (self-distillation)
DEFAULT_METHODS = {m.name: m.gain_config for m in METHODS.values() if m.gain_config}


def method(spec: str):
    """``NAME=CONFIG [KEY=VALUE ...]``: an arm, its config and the config changes (as
    ``--cfg-options`` takes them) that make it a variant, e.g. ``"tat-a0.1=CONFIG
    model.distiller.distill_losses.loss_tat.loss_weight=0.1"``."""
    head, *options = spec.split()
    name, sep, config = head.partition('=')
    if not sep or not name or not config or not all('=' in option for option in options):
        raise argparse.ArgumentTypeError(
            f'--method takes "NAME=CONFIG [KEY=VALUE ...]", got {spec!r}')
    return name, (config, options)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--teacher', default=osp.join(
        CONFIGS, 'demo_models', 'pspnet_r50-narrow_synthcity.py'), help='teacher config')
    parser.add_argument('--student', default=osp.join(
        CONFIGS, 'demo_models', 'pspnet_r18-narrow_synthcity.py'), help='student config')
    parser.add_argument('--method', type=method, action='append',
                        metavar='"NAME=CONFIG [KEY=VALUE ...]"',
                        help='a distillation arm with optional config changes (repeat); '
                        'default: every method\'s PSPNet demo twin (' +
                        ', '.join(DEFAULT_METHODS) + ')')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--teacher-seed', type=int, default=0)
    parser.add_argument('--teacher-iters', type=int, default=3000)
    parser.add_argument('--student-iters', type=int, default=1200)
    parser.add_argument('--pretrain-iters', type=int, default=0,
                        help='pretrained regime: the budget of the pretraining stage on the '
                        'source data, per backbone (teacher and student); 0: from scratch')
    parser.add_argument('--source-root', help='the pretraining data (generated if missing; '
                        'default: --data-root + _source)')
    parser.add_argument('--split', choices=('report', 'select'), default='report',
                        help='val set of the numbers: report (default) or select (for tuning)')
    parser.add_argument('--data-root', help='training images and the report val set '
                        '(generated if missing; default data/kd_gain, data/kd_gain_det for '
                        'mmdet students)')
    parser.add_argument('--select-root', help='the selection val set (generated if missing; '
                        'default: --data-root + _select)')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=200)
    parser.add_argument('--work-dir', default='work_dirs/kd_gain')
    parser.add_argument('--title', default='', help='chart title')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='config changes for every student arm (not the teacher)')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    start = time.time()
    data_root = args.data_root or ('data/kd_gain_det' if Config.fromfile(args.student).get(
        'default_scope') == 'mmdet' else 'data/kd_gain')
    methods = dict(args.method) if args.method else {
        name: (osp.join(CONFIGS, path), []) for name, path in DEFAULT_METHODS.items()}
    protocol = Protocol(
        teacher_config=args.teacher, student_config=args.student, methods=methods,
        seeds=args.seeds, teacher_iters=args.teacher_iters, student_iters=args.student_iters,
        work_dir=args.work_dir, data_root=data_root,
        select_root=args.select_root or data_root.rstrip('/') + '_select',
        split=args.split, teacher_seed=args.teacher_seed, num_train=args.num_train,
        num_val=args.num_val, cfg_options=args.cfg_options, pretrain_iters=args.pretrain_iters,
        source_root=args.source_root or '')
    result = run_protocol(protocol)
    result['wall_time_s'] = time.time() - start
    report = write_report(result, args.work_dir, args.title)
    regime = (f'pretrained regime ({args.pretrain_iters} it per backbone on '
              f'{protocol.source_root})' if args.pretrain_iters else 'scratch regime')
    print(f'\nkd gain ({result["metric"]}), {regime}, {args.split} val set '
          f'({protocol.eval_root}), seeds {list(args.seeds)}, student {args.student_iters} it, teacher '
          f'{args.teacher_iters} it, {result["wall_time_s"]:.0f} s in all')
    print(report['table'])
    print(f'chart: {report["png"]}\nruns:  {report["json"]}')
    return report


if __name__ == '__main__':
    main()
