"""Write the synthetic Cityscapes- or COCO-format dataset that the demo and test configs read.

Examples::

    python tools/make_synthetic_data.py cityscapes --out data/synthetic_cityscapes \\
        --num-train 200 --num-val 40 --height 128 --width 256 --seed 0
    python tools/make_synthetic_data.py coco --out data/synthetic_coco \\
        --num-train 100 --num-val 20 --height 192 --width 256 --seed 0
"""
import argparse
import time
from typing import List, Optional

from kdseg.datasets import generate_cityscapes, generate_coco

# Per format: the generator, the output directory the configs expect, and default sizes.
FORMATS = {
    'cityscapes': (generate_cityscapes,
                   dict(out='data/synthetic_cityscapes', num_train=200, num_val=40, height=128,
                        width=256)),
    'coco': (generate_coco,
             dict(out='data/synthetic_coco', num_train=100, num_val=20, height=192, width=256)),
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line: a format, then where and how much to write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest='format', required=True, metavar='FORMAT')
    for name, (_, defaults) in FORMATS.items():
        sub = subparsers.add_parser(name, help=f'{name}-format data')
        sub.add_argument('--out', default=defaults['out'], help='dataset root (%(default)s)')
        sub.add_argument('--num-train', type=int, default=defaults['num_train'],
                         help='training images (%(default)s)')
        sub.add_argument('--num-val', type=int, default=defaults['num_val'],
                         help='validation images (%(default)s)')
        sub.add_argument('--height', type=int, default=defaults['height'],
                         help='image height (%(default)s)')
        sub.add_argument('--width', type=int, default=defaults['width'],
                         help='image width (%(default)s)')
        sub.add_argument('--seed', type=int, default=0, help='random seed (%(default)s)')
        sub.add_argument('--overwrite', action='store_true',
                         help='replace a dataset already in --out')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Generate the dataset and print what was written where."""
    args = parse_args(argv)
    generate = FORMATS[args.format][0]
    start = time.perf_counter()
    try:
        summary = generate(args.out, num_train=args.num_train, num_val=args.num_val,
                           height=args.height, width=args.width, seed=args.seed,
                           overwrite=args.overwrite)
    except FileExistsError as error:
        raise SystemExit(f'error: {error} (on the command line: --overwrite)')
    except ValueError as error:
        raise SystemExit(f'error: {error}')
    seconds = time.perf_counter() - start
    print(f'Wrote synthetic {args.format} data ({args.height}x{args.width}, seed {args.seed}) '
          f'to {summary["root"]} in {seconds:.1f} s:')
    for split, info in summary['splits'].items():
        details = ', '.join(f'{key}={value}' for key, value in info.items())
        print(f'  {split}: {details}')


if __name__ == '__main__':
    main()
