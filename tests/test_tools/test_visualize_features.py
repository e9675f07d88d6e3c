"""tools/visualize_features.py on demo distillations with randomly initialised checkpoints, and
the TaT query attention it draws (kdseg.models.losses.tat.query_attention) against the loss."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS, MODELS, init_default_scope
from mmengine.runner import save_checkpoint, set_random_seed
from PIL import Image

from conftest import CONFIGS, ROOT
import kdseg  # noqa: F401  (compat fixes, strict distillers, registrations)
from kdseg.apis.feature_vis import expected_size
from kdseg.datasets import generate_cityscapes, generate_coco
from kdseg.models.losses.tat import TaTLoss
from kdseg.models.losses.tat.query_attention import query_attention

TAT = 'tat/demo/tat_pspnet_r50-narrow_r18-narrow_synthcity.py'  # 1 row, patch + anchor panels
REVIEW = 'review/demo/review_pspnet_r50-narrow_r18-narrow_synthcity.py'  # one row per stage
CWT = 'cwt/demo/cwt_pspnet_r50-narrow_r18-narrow_synthcity.py'  # the student via a connector
FRSKD = 'frskd/demo/frskd_pspnet_r18-narrow_synthcity.py'  # self-teacher level | student level
TAT_DET = 'tat/demo/tat_faster-rcnn_r50-narrow_r18-narrow_synthcoco.py'  # one loss per FPN level


def _tool():
    spec = importlib.util.spec_from_file_location(
        'visualize_features', osp.join(ROOT, 'tools', 'visualize_features.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def data_roots(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp('fv_data')
    city, coco = str(folder / 'synthetic_cityscapes'), str(folder / 'synthetic_coco')
    generate_cityscapes(city, num_train=2, num_val=1, seed=0)
    generate_coco(coco, num_train=2, num_val=1, seed=0)
    return dict(city=city, coco=coco)


def _config(name: str, data_root: str) -> Config:
    cfg = Config.fromfile(osp.join(CONFIGS, name))
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = None
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return cfg


def _random_init(cfg: Config, path: str) -> str:
    """As tests/e2e/conftest.py's random_init: the model at the config's seed, never trained."""
    init_default_scope(cfg.default_scope)
    set_random_seed(cfg.randomness.seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    save_checkpoint({'meta': {'iter': 0}, 'state_dict': model.state_dict()}, path)
    return path


def _independent_losses(cfg: Config, checkpoint: str) -> dict:
    """The distiller's losses on the val image, by mmrazor's own ``loss`` path (teacher and
    student in 'loss' mode with the ground truth), torch's strict load, eval mode."""
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
    model.load_state_dict(state, strict=True)
    model.eval()
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    data = model.data_preprocessor(pseudo_collate([dataset[0]]), False)
    with torch.no_grad():
        losses = model(**data, mode='loss')
    image = dataset[0]['data_samples'].img_path  # the tool reads it without annotations
    return {k[len('distill.'):]: float(v) for k, v in losses.items()
            if k.startswith('distill.')}, image


@pytest.mark.parametrize('name,rows,cols', [(TAT, 1, 4), (REVIEW, 4, 2), (CWT, 1, 2),
                                            (FRSKD, 4, 2), (TAT_DET, 5, 4)])
def test_tool_grid_and_losses(name, rows, cols, data_roots, tmp_path):
    data_root = data_roots['coco' if name.endswith('synthcoco.py') else 'city']
    cfg = _config(name, data_root)
    checkpoint = _random_init(cfg, str(tmp_path / 'random.pth'))
    expected, image = _independent_losses(cfg, checkpoint)
    out = str(tmp_path / 'grid.png')
    options = [f'{k}.dataset.data_root={data_root}'
               for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    drawn = _tool().main([osp.join(CONFIGS, name), checkpoint, image, '--out', out,
                          '--cfg-options', *options])
    assert len(drawn) == rows  # one row per distilled pair (per stage for KR's list records)
    height, width = np.asarray(Image.open(out)).shape[:2]
    assert (height, width) == expected_size(drawn)
    assert (height, width) == (round(rows * 2.4 * 80), round(cols * 3.2 * 80))
    for row in drawn:
        assert row.loss == pytest.approx(expected[row.loss_name], rel=1e-5, abs=1e-7)
        assert f'{expected[row.loss_name]:.6g}' in row.title  # the value shown in the figure
        assert row.teacher.min() >= 0 and row.teacher.max() <= 1
    if name == CWT:
        assert drawn[0].connector == 'mlp_c5'
        assert drawn[0].student_shape[1] == drawn[0].teacher_shape[1]  # after the connector
    if name == TAT:
        terms = [a.term for a in drawn[0].attention]
        assert terms == ['patch', 'anchor']
        for att in drawn[0].attention:
            assert float(att.weights.sum()) == pytest.approx(1.0, abs=1e-5)
            assert (att.weights >= 0).all()


def _manual_tat(loss: TaTLoss, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The loss rebuilt from query_attention's rows at every pixel (hierarchical, p-grouped
    patches, anchors): O = A·V per term, MSE against T, β·L_patch + γ·L_anchor, × α."""
    b, _, h, w = t.shape
    value = F.conv2d(s, loss.value[0].weight)
    norm = loss.value[1]
    if norm.training:
        mean = value.mean((0, 2, 3), keepdim=True)
        var = value.var((0, 2, 3), unbiased=False, keepdim=True)
    else:
        mean, var = norm.running_mean.view(1, -1, 1, 1), norm.running_var.view(1, -1, 1, 1)
    rstd = (var + norm.eps).rsqrt()
    v = (value - mean) * rstd * norm.weight.view(1, -1, 1, 1) + norm.bias.view(1, -1, 1, 1)
    kh, kw = h // loss.num_anchors[0], w // loss.num_anchors[1]
    v_anchor = ((F.avg_pool2d(value, (kh, kw)) - mean) * rstd * norm.weight.view(1, -1, 1, 1)
                + norm.bias.view(1, -1, 1, 1))
    t_anchor = F.avg_pool2d(t, (kh, kw))
    patch_sse, anchor_sse = torch.zeros(b), torch.zeros(b)
    for i in range(b):
        for y in range(h):
            for x in range(w):
                patch, anchor = query_attention(loss, s, t, (y, x), sample=i)
                th, tw = patch.weights.shape
                y0, x0 = y // th * th, x // tw * tw
                out = (patch.weights[None] * v[i, :, y0:y0 + th, x0:x0 + tw]).sum((1, 2))
                patch_sse[i] += ((out - t[i, :, y, x]) ** 2).sum()
                if y % kh == 0 and x % kw == 0:
                    out = (anchor.weights[None] * v_anchor[i]).sum((1, 2))
                    ay, ax = anchor.query
                    anchor_sse[i] += ((out - t_anchor[i, :, ay, ax]) ** 2).sum()
    c = t.shape[1]
    per_sample = (loss.patch_weight * patch_sse / (h * w * c)
                  + loss.anchor_weight * anchor_sse / (t_anchor[0, 0].numel() * c))
    return loss.loss_weight * per_sample.mean()


@pytest.mark.parametrize('training', [False, True])
def test_query_attention_rebuilds_the_loss(training):
    torch.manual_seed(0)
    loss = TaTLoss(6, 5, num_patches=(4, 4), num_groups=8, num_anchors=(2, 2),
                   patch_weight=0.7, anchor_weight=0.4, loss_weight=1.3)
    for norm in (loss.query[1], loss.key[1], loss.value[1]):  # non-trivial statistics
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-0.2, 0.2)
    loss.train(training)
    s, t = torch.randn(2, 6, 8, 8), torch.randn(2, 5, 8, 8)
    with torch.no_grad():
        manual = _manual_tat(loss, s, t)
        actual = loss(s, t)
    assert float(manual) == pytest.approx(float(actual), rel=1e-4)


def test_query_attention_sums_to_one_with_cover_padding():
    torch.manual_seed(0)
    loss = TaTLoss(4, 4, patch_size=(4, 4), anchor_size=(4, 4)).eval()
    s, t = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 6, 6)
    for pos in [(0, 0), (5, 5), (3, 4)]:
        for att in query_attention(loss, s, t, pos):
            assert float(att.weights.sum()) == pytest.approx(1.0, abs=1e-6)
    patch, anchor = query_attention(loss, s, t, (5, 5))
    assert patch.weights.shape == (4, 4) and patch.query == (1, 1)
    assert (patch.weights[2:] == 0).all() and (patch.weights[:, 2:] == 0).all()  # padding keys
    assert anchor.weights.shape == (2, 2) and anchor.query == (1, 1)
    plain = TaTLoss(4, 4, mode='plain', num_groups=2).eval()
    att, = query_attention(plain, s, t)
    assert att.weights.shape == (6, 6) and att.query == (3, 3)
    assert float(att.weights.sum()) == pytest.approx(1.0, abs=1e-6)
