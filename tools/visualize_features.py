"""Draw what a distillation compares: teacher and student features of one image, per loss.

    python tools/visualize_features.py CONFIG CHECKPOINT IMAGE --out grid.png
        [--position Y X] [--reduce mean|pca] [--cfg-options key=value ...]

CONFIG is a distillation config (an mmrazor ``ConfigurableDistiller``: SingleTeacherDistill,
FpnTeacherDistill), CHECKPOINT a checkpoint of that whole distiller, loaded strictly
(:func:`kdseg.engine.load_weights`: teacher, student, connectors and loss modules, key for key).
IMAGE goes through the config's test pipeline (annotation loading left out) and the model's data
preprocessor, as a batch of one, in eval mode.

The PNG has one row per distilled pair (a loss of ``loss_forward_mappings`` with its teacher and
student arguments; one row per level of a multi-level record): the teacher feature | the
student feature as the loss receives it (after the connector the mapping names), each the channel
mean of |F| (``--reduce mean``) or its first principal component (``pca``), min-max normalised;
the row's title holds the loss value the distiller's own ``compute_distill_losses`` gives on that
image. TaT losses get one more panel per term: the attention of the query pixel over the patch
(``(ph, pw)`` key offsets of its patch group) and over the anchor grid. ``--position Y X`` places
the query as fractions of the feature map's height and width (default 0.5 0.5, the centre).
"""
import argparse
import os
import os.path as osp

import kdseg  # noqa: F401  (applies the compat fixes, registers kdseg components)
from kdseg.apis.cli import load_config, skip_teacher_ckpt
from kdseg.apis.feature_vis import feature_rows, load_image, render_grid, save_grid
from kdseg.engine import load_weights


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Draw teacher and student features per '
                                     'distillation loss for one image')
    parser.add_argument('config', help='distillation config file')
    parser.add_argument('checkpoint', help='checkpoint of the whole distiller')
    parser.add_argument('image', help='image file')
    parser.add_argument('--out', required=True, help='the PNG to write')
    parser.add_argument('--position', nargs=2, type=float, metavar=('Y', 'X'),
                        default=(0.5, 0.5), help='TaT query position as fractions of the '
                        'feature height and width (default: 0.5 0.5, the centre)')
    parser.add_argument('--reduce', choices=('mean', 'pca'), default='mean',
                        help='channel mean of |F| or first principal component')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv=None):
    """Write the PNG; returns the :class:`kdseg.apis.feature_vis.FeatureRow` list it drew."""
    from mmengine.registry import MODELS, init_default_scope
    args = parse_args(argv)
    for what, path in (('checkpoint', args.checkpoint), ('image', args.image)):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} {path!r} does not exist')
    cfg = load_config(args.config, cfg_options=args.cfg_options)
    skip_teacher_ckpt(cfg)  # the distiller checkpoint holds the teacher
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model = MODELS.build(cfg.model)
    load_weights(model, args.checkpoint, key='checkpoint', what=f'the model of {args.config}')
    rows = feature_rows(model, load_image(cfg, args.image), reduce=args.reduce,
                        position=tuple(args.position))
    title = f'{osp.basename(args.config)}  |  {osp.basename(args.image)}'
    save_grid(render_grid(rows, title), args.out)
    print(f'{args.out}: {len(rows)} rows')
    for row in rows:
        print(f'  {row.loss_name}: teacher {row.teacher_arg} {row.teacher_shape} | student '
              f'{row.student_arg} {row.student_shape}  loss={row.loss:.6g}')
    return rows


if __name__ == '__main__':
    os.environ.setdefault('LOCAL_RANK', '0')
    main()
