"""Export the student of a distillation checkpoint as a plain mmseg/mmdet model and config.

    python tools/export_student.py CONFIG CHECKPOINT --out-dir DIR [--cfg-options key=value ...]

CONFIG is the config the checkpoint was trained with: a distillation config (mmrazor's
SingleTeacherDistill/FpnTeacherDistill, kdseg's FRSKD: the student is ``model.architecture``) or a
plain mmseg/mmdet config (the model is the student; CHECKPOINT may then be the model's own or a
distillation checkpoint of it). Writes DIR/<config name>_student.pth (the student's state dict
without the ``architecture.`` prefix and a meta of plain Python values: it loads with
``torch.load(weights_only=True)`` and no allow-list, so mmengine/mmseg/mmdet read it without
kdseg) and DIR/<config name>_student.py (the student's standalone config: no teacher, distiller,
self-teacher, mmrazor loops or kdseg hooks). CHECKPOINT is loaded with weights_only=True and
kdseg's allow-list, strictly: it must hold exactly the student's keys and shapes. See
kdseg/apis/export.py.
"""
import argparse
import sys

from mmengine.config import DictAction

from kdseg.apis.export import export_student


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export the student of a distillation checkpoint as a plain mmseg/mmdet '
        'checkpoint and config, loadable without kdseg')
    parser.add_argument('config', help='the config the checkpoint was trained with')
    parser.add_argument('checkpoint', help='the distillation (or plain) checkpoint')
    parser.add_argument('--out-dir', required=True, help='folder to write the student into')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = export_student(args.config, args.checkpoint, args.out_dir, args.cfg_options)
    kind = 'distillation' if result['distillation'] else 'plain (copied through)'
    print(f'{args.config}: {kind} config')
    for change in result['changes']:
        print(f'  config: {change}')
    print(f"wrote {result['config']} (the student's config)")
    print(f"wrote {result['checkpoint']} ({result['num_tensors']} tensors, "
          f"{result['num_params']:,} parameters; loads with torch.load(weights_only=True) "
          'without kdseg)')
    return result


if __name__ == '__main__':
    try:
        main()
    except (OSError, ValueError) as err:  # missing files, mismatched checkpoints, bad configs
        sys.exit(f'export_student: error: {err}')
