"""kdseg's main job on built-in synthetic data: teacher, student, distilled student, one table.

    python tools/demo.py [--work-dir work_dirs/demo] [--data-root data/synthetic_cityscapes]

1. generate the synthetic Cityscapes-format dataset (seeded; skipped when already there),
2. train the CPU-sized PSPNet teacher,
3. train the student alone and the student distilled from that teacher, same iteration budget,
4. evaluate all three through tools/test.py and print mIoU / aAcc side by side.

Every step is the same command a user would type (tools/train.py, tools/test.py), run as a
subprocess so each has its own runner, logger and registry scope.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_MODELS = osp.join(ROOT, 'configs', 'demo_models')  # the CPU-sized teachers and students
TAT_DEMO = osp.join(ROOT, 'configs', 'tat', 'demo')  # TaT's CPU-sized distillation twins


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/synthetic_cityscapes')
    parser.add_argument('--teacher-config',
                        default=osp.join(DEMO_MODELS, 'pspnet_r50-narrow_synthcity.py'))
    parser.add_argument('--student-config',
                        default=osp.join(DEMO_MODELS, 'pspnet_r18-narrow_synthcity.py'))
    parser.add_argument('--distill-config',
                        default=osp.join(TAT_DEMO, 'tat_pspnet_r50-narrow_r18-narrow_synthcity.py'))
    parser.add_argument('--teacher-iters', type=int, default=None,
                        help='teacher iterations, instead of the config budget')
    parser.add_argument('--student-iters', type=int, default=None,
                        help='iterations of BOTH student runs (same budget)')
    return parser.parse_args()


def run(cmd: List[str]) -> None:
    """Run one step, streaming its output; stop the demo if it fails."""
    print('\n$ ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=os.getcwd())


def data_options(data_root: str) -> List[str]:
    return [f'{loader}.dataset.data_root={data_root}'
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]


def budget_options(iters: Optional[int]) -> List[str]:
    """tools/train.py's ``--iters`` (loop, validation, checkpoint and LR schedule together)."""
    return [] if iters is None else ['--iters', str(iters)]


def train(config: str, work_dir: str, options: List[str], budget: List[str]) -> str:
    """tools/train.py; returns the final checkpoint (mmengine's ``last_checkpoint`` record)."""
    run([sys.executable, osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', work_dir,
         *budget, '--cfg-options', *options])
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def test(config: str, checkpoint: str, work_dir: str, options: List[str]) -> Dict[str, float]:
    """tools/test.py; returns the metrics mmengine dumps to ``<work_dir>/<timestamp>/*.json``."""
    before = set(glob.glob(osp.join(work_dir, '*', '*.json')))
    run([sys.executable, osp.join(ROOT, 'tools', 'test.py'), config, checkpoint,
         '--work-dir', work_dir, '--cfg-options', *options])
    new = sorted(set(glob.glob(osp.join(work_dir, '*', '*.json'))) - before)
    if not new:
        raise RuntimeError(f'tools/test.py wrote no metrics file under {work_dir}')
    with open(new[-1]) as f:
        return json.load(f)


def main() -> None:
    args = parse_args()
    start = time.time()
    if not osp.isdir(osp.join(args.data_root, 'leftImg8bit')):
        run([sys.executable, osp.join(ROOT, 'tools', 'make_synthetic_data.py'), 'cityscapes',
             '--out', args.data_root])
    data = data_options(args.data_root)
    teacher_budget = budget_options(args.teacher_iters)
    student_budget = budget_options(args.student_iters)

    runs = {}
    teacher_ckpt = train(args.teacher_config, osp.join(args.work_dir, 'teacher'), data,
                         teacher_budget)
    runs['teacher'] = (args.teacher_config, teacher_ckpt)
    runs['student'] = (args.student_config,
                       train(args.student_config, osp.join(args.work_dir, 'student'), data,
                             student_budget))
    distill_opts = data + [f'model.teacher_ckpt={teacher_ckpt}']
    runs['distilled student'] = (args.distill_config,
                                 train(args.distill_config, osp.join(args.work_dir, 'distilled'),
                                       distill_opts, student_budget))

    rows = []
    for name, (config, ckpt) in runs.items():
        metrics = test(config, ckpt, osp.join(args.work_dir, 'test', name.replace(' ', '_')),
                       data)
        rows.append((name, osp.basename(config), metrics['mIoU'], metrics['aAcc']))

    print(f'\nkdseg demo: synthetic Cityscapes val, {time.time() - start:.0f} s in all')
    print(f'| {"model":<18} | {"config":<46} | {"mIoU":>6} | {"aAcc":>6} |')
    print(f'|{"-" * 20}|{"-" * 48}|{"-" * 8}|{"-" * 8}|')
    for name, config, miou, aacc in rows:
        print(f'| {name:<18} | {config:<46} | {miou:>6.2f} | {aacc:>6.2f} |')


if __name__ == '__main__':
    main()
