"""Evaluate a checkpoint (a student, a teacher, or a whole distiller) with the config's metrics.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl] [--show-dir DIR]
        [--skip-data-check] [--cfg-options key=value ...]
        [--launcher none|pytorch|slurm|mpi]

The test data are checked first (kdseg.apis.cli.check_data). Checkpoints load with
weights_only=True and kdseg's allow-list (kdseg.compat), strictly: the checkpoint must fit the
config's model key for key (kdseg.engine.load_weights). A distiller checkpoint tested with the
student's (or the teacher's) own config gives its architecture.* (teacher.*) part; anything else
fails before evaluation, naming the keys that differ, and so does a checkpoint with a NaN or inf
in any weight or buffer.
"""
import argparse
import os

import kdseg  # noqa: F401  (applies the compat fixes, registers kdseg components)
from kdseg.apis.cli import (add_runner_arguments, check_data, check_data_paths, enable_dump,
                            enable_show_dir, load_config, parse_runner_args, runner_from,
                            skip_teacher_ckpt)
from kdseg.engine import load_weights


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint with kdseg')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='pickle the raw predictions to this .pkl file')
    parser.add_argument('--show-dir', help='draw every prediction into DIR/vis_data/vis_image/ '
                        '(segmentation and detection alike)')
    parser.add_argument('--skip-data-check', action='store_true',
                        help='do not check the data before starting (files the index names '
                        'exist, image and label sizes agree, label ids in range; '
                        'kdseg.apis.cli.data_check): for sets too large to look at on every start')
    add_runner_arguments(parser)
    return parse_runner_args(parser, argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if not os.path.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = load_config(args.config, args.work_dir, args.cfg_options, args.launcher)
    check_data_paths(cfg, ('test_dataloader',))
    if not args.skip_data_check:
        check_data(cfg, ('test_dataloader',))
    cfg.load_from = None  # loaded strictly below, not by the runner's non-strict load
    skip_teacher_ckpt(cfg)  # a distiller's checkpoint holds its teacher
    if args.out:
        enable_dump(cfg, args.out)
    if args.show_dir:
        enable_show_dir(cfg, args.show_dir)
    with runner_from(cfg) as runner:
        load_weights(runner.model, args.checkpoint, prefixes=('architecture.', 'teacher.'),
                     key='checkpoint', what=f'the model of {args.config}')
        return runner.test()


if __name__ == '__main__':
    main()
