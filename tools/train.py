"""Train a model (plain or distilled) from an mmengine config.

    python tools/train.py configs/pspnet_r18_tat.py [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--iters N] [--student-init CKPT] [--skip-data-check]
        [--cfg-options key=value ...] [--launcher none|pytorch|slurm|mpi]

Before anything is built, the data the config names are checked (kdseg.apis.cli.check_data: files,
sizes, label ids; --skip-data-check turns it off). Every run gets kdseg's safety hooks
(kdseg.apis.cli.add_safety_hooks): the config is checked against the data and model before
iteration 1, a non-finite loss, weight or buffer stops training before it is checkpointed, and
--resume restores the random-number state. --student-init pairs runs: the
student starts from CKPT and every generator from the seed (tools/benchmark_kd_gain.py uses it).

Multi-GPU: tools/dist_train.sh (torchrun) or --launcher slurm under srun.
"""
import argparse

import kdseg  # noqa: F401  (applies the compat fixes, registers kdseg components)
from kdseg.apis.cli import (add_runner_arguments, add_safety_hooks, check_data, check_data_paths,
                            enable_amp, load_config, parse_runner_args, runner_from, set_resume,
                            set_student_init)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model with kdseg')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in work_dir '
                        'when no path is given')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 with a dynamic loss scale on CUDA, '
                        'bfloat16 on the CPU')
    parser.add_argument('--iters', type=int,
                        help='train N iterations: sets max_iters, the validation and checkpoint '
                        'intervals and the LR schedule (warm-up included) together')
    parser.add_argument('--student-init', metavar='CKPT',
                        help='start the student (a distiller\'s model.architecture) from CKPT '
                        'and reseed every generator before iteration 1: runs given the same CKPT '
                        'and seed differ only by their distillation')
    parser.add_argument('--skip-data-check', action='store_true',
                        help='do not check the data before starting (files the index names '
                        'exist, image and label sizes agree, label ids in range; '
                        'kdseg.apis.cli.data_check): for sets too large to look at on every start')
    add_runner_arguments(parser)
    return parse_runner_args(parser, argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.config, args.work_dir, args.cfg_options, args.launcher, args.iters)
    check_data_paths(cfg, ('train_dataloader', 'val_dataloader'))
    if not args.skip_data_check:
        check_data(cfg, ('train_dataloader', 'val_dataloader'))
    add_safety_hooks(cfg)
    if args.student_init:
        set_student_init(cfg, args.student_init)
    if args.amp:
        enable_amp(cfg)
    set_resume(cfg, args.resume)
    with runner_from(cfg) as runner:
        runner.train()


if __name__ == '__main__':
    main()
