"""Teacher and student features of a distillation, side by side, for one image.

The library side of ``tools/visualize_features.py`` and of
:class:`kdseg.engine.hooks.FeatureVisHook`:

* :func:`load_image` - one image through the config's test pipeline, a batch of one;
* :func:`feature_rows` - for an mmrazor ``ConfigurableDistiller``: one forward of the teacher and
  of the student with the distiller's recorders, then, for every loss of
  ``loss_forward_mappings``, its teacher and student records (the student's after the connector
  the mapping names, exactly as ``get_record`` feeds the loss), reduced to one map each, and the
  loss value from the distiller's own ``compute_distill_losses`` on that image; for a
  :class:`~kdseg.models.losses.tat.TaTLoss` also the attention of one query position
  (:func:`kdseg.models.losses.tat.query_attention.query_attention`, built from the pieces of TaT's
  reference formulation, :mod:`kdseg.models.losses.tat.reference`);
* :func:`render_grid` - the rows as an RGB image: teacher | student | attention panel(s).

Everything runs in eval mode under ``torch.no_grad()`` (BatchNorm with running statistics, no
dropout, no running-statistics update), and the modules' train/eval flags are restored after.
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.model import is_model_wrapper
from torch import Tensor, nn

__all__ = ['FeatureRow', 'feature_rows', 'load_image', 'reduce_map', 'render_grid',
           'save_grid', 'grid_shape', 'expected_size', 'PANEL_INCHES', 'DPI']

REDUCTIONS = ('mean', 'pca')
PANEL_INCHES = (3.2, 2.4)  # width, height of one panel (the map, its title)
DPI = 80


@dataclass
class FeatureRow:
    """One distilled pair: a loss's teacher argument and its student argument.

    Attributes:
        loss_name: the key in ``distill_losses`` / ``loss_forward_mappings``.
        teacher_arg, student_arg: the loss's forward arguments, with ``[i]`` for the i-th tensor
            of a record holding several (a multi-level recorder).
        teacher, student: (H, W) float maps in [0, 1] (:func:`reduce_map`).
        teacher_shape, student_shape: the shapes of the features (the student's as the loss
            receives it, after the connector).
        connector: the connector the student record goes through, or None.
        loss: the loss's value on this image (the whole loss, for every row of that loss).
        attention: TaT attention rows (:class:`QueryAttention`), empty for other losses.
    """

    loss_name: str
    teacher_arg: str
    student_arg: str
    teacher: Tensor
    student: Tensor
    teacher_shape: Tuple[int, ...]
    student_shape: Tuple[int, ...]
    connector: Optional[str]
    loss: float
    attention: List[Any] = field(default_factory=list)

    @property
    def title(self) -> str:
        levels = ' (whole loss, all levels)' if self.teacher_arg.endswith(']') else ''
        return f'{self.loss_name} = {self.loss:.6g}{levels}'


def reduce_map(feature: Tensor, reduce: str = 'mean') -> Tensor:
    """(C, H, W) or (1, C, H, W) → (H, W) in [0, 1]: the channel mean of |F| (``'mean'``), or the
    first principal component over the channels (``'pca'``, sign chosen so that it correlates
    positively with the channel mean of |F|), min-max normalised."""
    if reduce not in REDUCTIONS:
        raise ValueError(f'reduce must be one of {REDUCTIONS}, got {reduce!r}')
    feature = feature.detach().float()
    if feature.dim() == 4:
        feature = feature[0]
    if feature.dim() != 3:
        raise ValueError(f'expected a (C, H, W) feature, got shape {tuple(feature.shape)}')
    energy = feature.abs().mean(0)
    out = energy
    if reduce == 'pca' and feature.shape[0] > 1:
        rows = feature.flatten(1).t()  # (H·W, C)
        rows = rows - rows.mean(0, keepdim=True)
        _, _, v = torch.linalg.svd(rows, full_matrices=False)
        out = (rows @ v[0]).view(energy.shape)
        if torch.corrcoef(torch.stack([out.flatten(), energy.flatten()]))[0, 1] < 0:
            out = -out
    low, high = out.min(), out.max()
    return (out - low) / (high - low) if high > low else torch.zeros_like(out)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def load_image(cfg, image: Union[str, np.ndarray]) -> Dict[str, list]:
    """``image`` (a path or an HxWx3 BGR array) through ``cfg.test_dataloader.dataset.pipeline``
    without its annotation loading, collated as a batch of one (before the data preprocessor)."""
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    dataloader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    steps = [dict(t) for t in dataloader.dataset.pipeline
             if 'LoadAnnotations' not in t['type'] and 'LoadPanopticAnnotations' not in t['type']]
    if isinstance(image, str):
        info = dict(img_path=image, seg_fields=[], reduce_zero_label=False)
    else:
        info = dict(img=image, img_path=None, seg_fields=[], reduce_zero_label=False)
        steps = [t for t in steps if 'LoadImage' not in t['type']]
    info.update(img_id=0, ori_filename=str(image) if isinstance(image, str) else '')
    data = Compose(steps)(info)
    if data is None:
        raise ValueError(f'the test pipeline dropped the image {image!r}')
    return pseudo_collate([data])


def _tensors(record: Any) -> List[Tensor]:
    if isinstance(record, Tensor):
        return [record]
    if isinstance(record, (list, tuple)) and record and all(
            isinstance(r, Tensor) for r in record):
        return list(record)
    return []


def _loss_value(value: Any) -> float:
    if isinstance(value, Tensor):
        return float(value.detach().float().sum())
    if isinstance(value, dict):
        return sum(_loss_value(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_loss_value(v) for v in value)
    return float(value)


def _forward_records(model: nn.Module, data: Dict[str, list]) -> Dict[str, float]:
    """One teacher and one student forward with the recorders on; the distill losses."""
    from mmrazor.models.algorithms import FpnTeacherDistill
    data = model.data_preprocessor(data, False)
    inputs, samples = data['inputs'], data.get('data_samples')
    distiller = model.distiller
    distiller.set_deliveries_override(False)
    with distiller.teacher_recorders, distiller.deliveries:
        if isinstance(model, FpnTeacherDistill):
            model.teacher.extract_feat(inputs)
        else:
            model.teacher(inputs, samples, mode='tensor')
    distiller.set_deliveries_override(True)
    # 'loss' mode, as the distiller's own training step, where the samples carry ground truth
    # (mmdet's always do, empty without annotations): recorders of a ``.loss`` method's inputs
    # (TaT's data_samples for the padding mask) need it; 'tensor' mode for a bare mmseg image
    mode = 'loss' if samples and all(
        hasattr(s, 'gt_sem_seg') or hasattr(s, 'gt_instances') for s in samples) else 'tensor'
    for sample in samples or ():
        _complete_instances(sample, inputs)
    with distiller.student_recorders, distiller.deliveries:
        model.student(inputs, samples, mode=mode)
    return {name: _loss_value(v) for name, v in distiller.compute_distill_losses().items()}


def _complete_instances(sample: Any, inputs: Tensor) -> None:
    """An image without annotations: mmdet's PackDetInputs leaves ``gt_instances`` empty, without
    the (0-length) boxes, labels and masks a detector's loss reads; add them."""
    from mmdet.structures.mask import BitmapMasks
    height, width = inputs.shape[-2:]
    for key in ('gt_instances', 'ignored_instances'):
        gt = getattr(sample, key, None)
        if gt is None or 'labels' in gt:
            continue
        gt.bboxes = inputs.new_zeros(0, 4)
        gt.labels = torch.zeros(0, dtype=torch.long, device=inputs.device)
        gt.masks = BitmapMasks(np.zeros((0, height, width), dtype=np.uint8), height, width)


def feature_rows(model: nn.Module, data: Dict[str, list], reduce: str = 'mean',
                 position: Optional[Tuple[float, float]] = None) -> List[FeatureRow]:
    """Per distilled pair, the teacher and student maps and the loss value, for one batch.

    Args:
        model: an mmrazor distillation algorithm whose ``distiller`` is a
            ``ConfigurableDistiller`` (``SingleTeacherDistill``, ``FpnTeacherDistill``), or
            kdseg's ``FRSKD`` (one row per level: self-teacher level | student level, with
            ``loss_at``), wrapped or not.
        data: a collated batch before the data preprocessor (:func:`load_image`); sample 0 is
            drawn.
        reduce: ``'mean'`` (channel mean of |F|) or ``'pca'`` (first principal component).
        position: the TaT query position as fractions ``(y, x)`` of the feature map's height and
            width (0 ≤ y, x ≤ 1); default the centre ``(0.5, 0.5)``.

    Returns:
        one :class:`FeatureRow` per (loss, teacher argument, student argument) pair, in the
        order of ``loss_forward_mappings``; a record holding several tensors gives one row per
        tensor. Train/eval flags and the torch generators are left as they were.
    """
    from kdseg.models.losses.tat import TaTLoss
    from kdseg.models.losses.tat.query_attention import query_attention
    model = _unwrap(model)
    distiller = getattr(model, 'distiller', None)
    frskd = hasattr(model, 'self_teacher') and 'loss_at' in getattr(model, 'distill_losses', {})
    if not frskd and (distiller is None or not hasattr(distiller, 'loss_forward_mappings')):
        raise TypeError(f'feature_rows needs an mmrazor distillation algorithm with a '
                        f'ConfigurableDistiller at model.distiller, or FRSKD; got a '
                        f'{type(model).__name__}')
    fy, fx = position if position is not None else (0.5, 0.5)
    if not (0 <= fy <= 1 and 0 <= fx <= 1):
        raise ValueError(f'position must be fractions (y, x) in [0, 1], got {position!r}')
    flags = {m: m.training for m in model.modules()}
    rng = torch.get_rng_state()
    try:
        model.eval()
        with torch.no_grad():
            if frskd:
                return _frskd_rows(model, data, reduce)
            losses = _forward_records(model, data)
            rows = []
            for loss_name, mapping in distiller.loss_forward_mappings.items():
                kwargs = {arg: distiller.get_record(**record) for arg, record in mapping.items()}
                t_args = [a for a, r in mapping.items() if not r.get('from_student', True)]
                s_args = [a for a, r in mapping.items() if r.get('from_student', False)]
                loss_module = distiller.distill_losses[loss_name]
                for t_arg, s_arg in zip(t_args, s_args):
                    t_list, s_list = _tensors(kwargs[t_arg]), _tensors(kwargs[s_arg])
                    many = len(t_list) > 1
                    for i, (t, s) in enumerate(zip(t_list, s_list)):
                        if t.dim() != 4 or s.dim() != 4:
                            continue  # not a dense map (e.g. logits of a classifier)
                        suffix = f'[{i}]' if many else ''
                        row = FeatureRow(
                            loss_name, t_arg + suffix, s_arg + suffix, reduce_map(t, reduce),
                            reduce_map(s, reduce), tuple(t.shape), tuple(s.shape),
                            mapping[s_arg].get('connector'), losses[loss_name])
                        if isinstance(loss_module, TaTLoss) and not many:
                            height, width = t.shape[-2:]
                            pos = (min(int(fy * height), height - 1),
                                   min(int(fx * width), width - 1))
                            row.attention = query_attention(loss_module, s[:1], t[:1], pos)
                        rows.append(row)
    finally:
        for module, flag in flags.items():
            module.training = flag
        torch.set_rng_state(rng)
    return rows


def _frskd_rows(model: nn.Module, data: Dict[str, list], reduce: str) -> List[FeatureRow]:
    """FRSKD: per level, the self-teacher's refined level (the "teacher") and the student's
    level, with ``loss_at`` (the attention-transfer loss over all levels) on this image."""
    data = model.data_preprocessor(data, False)
    levels = tuple(model.architecture.extract_feat(data['inputs']))
    refined = tuple(model.refine(levels))
    value = _loss_value(model.distill_losses['loss_at'](levels, refined))
    return [FeatureRow('loss_at', f'self_teacher[{i}]', f'student[{i}]', reduce_map(t, reduce),
                       reduce_map(s, reduce), tuple(t.shape), tuple(s.shape), None, value)
            for i, (s, t) in enumerate(zip(levels, refined))]


def grid_shape(rows: Sequence[FeatureRow]) -> Tuple[int, int]:
    """(rows, columns) of the panel grid: teacher, student, then the most attention panels."""
    return len(rows), 2 + max((len(r.attention) for r in rows), default=0)


def _side(side: str, arg: str) -> str:
    """``teacher`` for a loss argument named ``teacher``, else ``teacher (preds_T[0])``."""
    return side if arg == side else f'{side} ({arg})'


def render_grid(rows: Sequence[FeatureRow], title: Optional[str] = None) -> np.ndarray:
    """The panel grid as an RGB uint8 array of ``(rows·PANEL_INCHES[1]·DPI,
    columns·PANEL_INCHES[0]·DPI, 3)`` pixels (rounded), one row per :class:`FeatureRow`: the
    teacher map, the student map (after its connector), and for TaT the attention of the query
    position, whose own key cell is outlined. The row's loss name and value head the teacher
    panel."""
    import matplotlib
    matplotlib.use('Agg', force=False)
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.patches import Rectangle
    if not rows:
        raise ValueError('no distilled feature pairs to draw')
    n_rows, n_cols = grid_shape(rows)
    fig = Figure(figsize=(n_cols * PANEL_INCHES[0], n_rows * PANEL_INCHES[1]), dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, row in enumerate(rows):
        panels = [(row.teacher, f'{row.title}\n{_side("teacher", row.teacher_arg)} '
                   f'{_shape(row.teacher_shape)}', None),
                  (row.student, _side('student', row.student_arg)
                   + (f' via {row.connector}' if row.connector else '')
                   + f'\n{_shape(row.student_shape)}', None)]
        for att in row.attention:
            panels.append((att.weights, f'TaT {att.term} attention of pixel '
                           f'{att.position}\n(sum {float(att.weights.sum()):.3f})', att.query))
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(panels):
                ax.axis('off')
                continue
            image, text, query = panels[c]
            ax.imshow(image.cpu().numpy(), cmap='magma' if query is None else 'viridis',
                      interpolation='nearest', vmin=0, vmax=None if query is not None else 1)
            ax.set_title(text, fontsize=8)
            if query is not None:
                ax.add_patch(Rectangle((query[1] - 0.5, query[0] - 0.5), 1, 1, fill=False,
                                       edgecolor='red', linewidth=1.5))
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _shape(shape: Tuple[int, ...]) -> str:
    return '×'.join(str(s) for s in shape[1:])


def save_grid(image: np.ndarray, path: str) -> None:
    """Write the RGB array from :func:`render_grid` as a PNG (folders created)."""
    import os
    import os.path as osp
    from PIL import Image
    if osp.dirname(path):
        os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(image).save(path)


def expected_size(rows: Sequence[FeatureRow]) -> Tuple[int, int]:
    """(height, width) in pixels of :func:`render_grid`'s image for ``rows``."""
    n_rows, n_cols = grid_shape(rows)
    return (int(round(n_rows * PANEL_INCHES[1] * DPI)),
            int(round(n_cols * PANEL_INCHES[0] * DPI)))

