"""Watch a distillation while it trains: teacher and student features of one image, every N
iterations."""
import os.path as osp
from typing import Optional, Tuple, Union

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from .loss_weights import check_nonnegative_int
from .rng_state_hook import get_rng_state, set_rng_state

__all__ = ['FeatureVisHook']


@HOOKS.register_module()
class FeatureVisHook(Hook):
    """Every ``interval`` training iterations, draw the grid of ``tools/visualize_features.py``
    (teacher | student after its connector | TaT attention, per distilled pair, with each loss's
    value on the image) and log it with ``runner.visualizer.add_image``: a ``LocalVisBackend``
    writes ``<log dir>/vis_data/vis_image/<name>_<iter>.png``, TensorBoard an image summary, when
    the config's ``visualizer.vis_backends`` name them.

    The model is put in eval mode for the drawing (BatchNorm running statistics, no dropout, no
    statistics update), under ``torch.no_grad()``; afterwards every module's train/eval flag and
    the python, numpy and torch generators are restored, so training continues exactly as
    without the hook. Only the main process draws.

    Args:
        interval: draw after every ``interval``-th training iteration (a positive int).
        image: an image file, through the config's test pipeline; or an index into the
            validation dataset (``val_dataloader.dataset``, its own pipeline). Defaults to 0.
        reduce: ``'mean'`` (channel mean of |F|) or ``'pca'`` (first principal component).
        position: TaT query position as fractions ``(y, x)`` of the feature map; default centre.
        name: the image name given to the visualizer.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 500, image: Union[str, int] = 0, reduce: str = 'mean',
                 position: Optional[Tuple[float, float]] = None,
                 name: str = 'feature_vis') -> None:
        self.interval = check_nonnegative_int('FeatureVisHook', 'interval', interval, 1)
        if isinstance(image, bool) or not isinstance(image, (str, int)):
            raise ValueError(f'FeatureVisHook: image must be a file path or a dataset index, '
                             f'got {image!r}')
        if isinstance(image, str) and not osp.isfile(image):
            raise FileNotFoundError(f'FeatureVisHook: image {image!r} does not exist')
        self.image = image
        self.reduce = reduce
        self.position = None if position is None else tuple(position)
        self.name = name
        self._data = None

    def _batch(self, runner):
        """The image as a collated batch of one, built once."""
        if self._data is None:
            from mmengine.dataset import pseudo_collate
            from mmengine.registry import DATASETS, init_default_scope

            from kdseg.apis.feature_vis import load_image
            if isinstance(self.image, str):
                self._data = load_image(runner.cfg, self.image)
            else:
                init_default_scope(runner.cfg.get('default_scope', 'mmengine'))
                dataset = DATASETS.build(runner.cfg.val_dataloader.dataset)
                self._data = pseudo_collate([dataset[self.image]])
        return self._data

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.interval) or not is_main_process():
            return
        from kdseg.apis.feature_vis import feature_rows, render_grid
        state = get_rng_state()
        try:
            rows = feature_rows(runner.model, self._batch(runner), self.reduce, self.position)
            image = render_grid(rows, f'iteration {runner.iter + 1}')
        finally:
            set_rng_state(state)
        runner.visualizer.add_image(self.name, image, step=runner.iter + 1)
