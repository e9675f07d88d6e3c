"""The README's worked example (an mmdet config of the user's, distilled by inheritance from the
user's own folder) builds as written: its two config files are taken from README.md itself."""
import os.path as osp
import re

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmrazor.registry import MODELS

from conftest import ROOT
import kdseg  # noqa: F401  (the kdseg:: prefix, registries)



def _example_files() -> dict:
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    section = text.split('### Worked example', 1)[1].split('\n### ', 1)[0]
    names = re.findall(r'`my_project/(\w+\.py)`', section)
    blocks = re.findall(r'```python\n(.*?)```', section, flags=re.S)
    assert len(names) >= 2 and len(blocks) == 2, (names, len(blocks))
    return dict(zip(names[:2], blocks))


def test_the_worked_example_builds_the_users_detector_into_a_kr_distiller(tmp_path):
    files = _example_files()
    for name, code in files.items():
        (tmp_path / name).write_text(code)
    student_name, distill_name = files
    cfg = Config.fromfile(str(tmp_path / distill_name))
    assert cfg.model.teacher_ckpt  # the user's; not loaded here (no such file)
    cfg.model.teacher_ckpt = None
    cfg.model.architecture.backbone.init_cfg = None  # no ImageNet download
    init_default_scope('mmrazor')
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'KDFpnTeacherDistill'
    # the user's own change to mmdet's config survives the wrapping
    assert model.architecture.roi_head.bbox_head.num_classes == 3
    assert Config.fromfile(str(tmp_path / student_name)).model.roi_head.bbox_head.num_classes == 3
    assert list(model.distiller.distill_losses) == ['loss_review']
    assert type(model.distiller.distill_losses['loss_review']).__name__ == 'ReviewKDLoss'
