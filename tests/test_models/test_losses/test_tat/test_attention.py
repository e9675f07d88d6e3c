"""Tests of kdseg.models.losses.tat.attention: the grouped attention and its sum of squared
errors (numerics; the semantics are tested through TaTLoss in test_loss.py)."""
import pytest
import torch

from kdseg.models.losses.tat import TaTLoss

from .naive import twin


@pytest.mark.parametrize('shapes,kwargs', [
    # the TaT-seg VOC setting at a quarter of its size: (16, 16) patches, 64 groups
    (((2, 64, 64, 64), (2, 64, 64, 64)),
     dict(num_patches=(16, 16), num_groups=64, num_anchors=(32, 32), reference=True)),
    (((2, 16, 48, 48), (2, 128, 48, 48)), dict(patch_size=(4, 4), anchor_size=(4, 4))),
])
def test_float32_loss_value_within_a_millionth_of_float64(shapes, kwargs):
    """The sum of squared errors runs over millions of float32 terms (2.4e-6 and 4e-6 relative
    error here, 1.7e-4 at the full VOC size when it was one float32 dot product)."""
    gen = torch.Generator().manual_seed(0)
    student, teacher = (torch.randn(*shape, generator=gen) for shape in shapes)
    loss32 = TaTLoss(shapes[0][1], shapes[1][1], loss_weight=0.1, anchor_weight=0.4, **kwargs)
    loss64 = twin(loss32, torch.float64)
    with torch.no_grad():
        v32, v64 = loss32(student, teacher), loss64(student.double(), teacher.double())
    assert abs(v32.item() - v64.item()) <= 1e-6 * v64.item(), (v32.item(), v64.item())
