"""What the data check before iteration 1 costs on a Cityscapes-sized set.

    python tools/benchmark_data_check.py [--num-train 2975] [--num-val 500] [--distinct 16]
        [--height 1024] [--width 2048] [--work-dir work_dirs/data_check_bench]

Writes a Cityscapes-format set of that size (``--distinct`` generated image/label pairs at full
size, each file of the set a hard link to one of them, so the set takes the disk space of the
distinct pairs only) and times ``kdseg.apis.cli.check_data`` on the flagship's train and val loaders
(what ``tools/train.py configs/pspnet_r18_tat.py`` runs before building the model), cold (first
call) and warm (second). Prints a table.
"""
import argparse
import glob
import os
import os.path as osp
import platform
import shutil
import time

from mmengine.config import Config

import kdseg  # noqa: F401  (compat fixes, registries)
from kdseg.apis.cli import check_data
from kdseg.datasets import generate_cityscapes

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FLAGSHIP = osp.join(ROOT, 'configs', 'pspnet_r18_tat.py')


def _cpu() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            return next(line.split(':', 1)[1].strip() for line in f if 'model name' in line)
    except (OSError, StopIteration):
        return platform.processor() or 'unknown'


def build_set(root: str, num_train: int, num_val: int, distinct: int, height: int,
              width: int) -> None:
    """A set of ``num_train``/``num_val`` pairs made of ``distinct`` generated pairs."""
    source = root + '_source'
    if not osp.isdir(source):
        generate_cityscapes(source, num_train=distinct, num_val=1, height=height, width=width)
    images = sorted(glob.glob(osp.join(source, 'leftImg8bit', 'train', '*', '*.png')))
    shutil.rmtree(root, ignore_errors=True)
    for split, count in (('train', num_train), ('val', num_val)):
        for i in range(count):
            image = images[i % len(images)]
            stem = f'city_{i:06d}_000019'
            for kind, suffix, src in (
                    ('leftImg8bit', '_leftImg8bit.png', image),
                    ('gtFine', '_gtFine_labelTrainIds.png',
                     image.replace('leftImg8bit', 'gtFine', 1).replace(
                         '_leftImg8bit.png', '_gtFine_labelTrainIds.png'))):
                folder = osp.join(root, kind, split, 'city')
                os.makedirs(folder, exist_ok=True)
                os.link(src, osp.join(folder, stem + suffix))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-train', type=int, default=2975)
    parser.add_argument('--num-val', type=int, default=500)
    parser.add_argument('--distinct', type=int, default=16)
    parser.add_argument('--height', type=int, default=1024)
    parser.add_argument('--width', type=int, default=2048)
    parser.add_argument('--work-dir', default='work_dirs/data_check_bench')
    args = parser.parse_args(argv)
    root = osp.abspath(osp.join(args.work_dir, 'cityscapes'))
    build_set(root, args.num_train, args.num_val, args.distinct, args.height, args.width)
    cfg = Config.fromfile(FLAGSHIP)
    for loader in ('train_dataloader', 'val_dataloader'):
        cfg[loader].dataset.data_root = root
    rows = []
    for run in ('first call', 'second call'):
        start = time.perf_counter()
        lines = check_data(cfg, ('train_dataloader', 'val_dataloader'))
        rows.append((run, time.perf_counter() - start))
    print(f'\ndata check of {FLAGSHIP} on {args.num_train} + {args.num_val} pairs of '
          f'{args.width}×{args.height} (host CPU: {_cpu()}, {os.cpu_count()} logical CPUs)')
    print('\n'.join(lines))
    print('\n| run | seconds |\n|---|---|')
    for run, seconds in rows:
        print(f'| {run} | {seconds:.2f} |')


if __name__ == '__main__':
    main()
