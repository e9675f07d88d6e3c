"""Tests of kdseg.models.losses.tat.attention: the grouped attention and its sum of squared
errors (numerics; the semantics are tested through TaTLoss in test_loss.py)."""
import pytest
import torch

from kdseg.models.losses.tat import TaTLoss
from kdseg.models.losses.tat.attention import key_mask

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


@pytest.mark.parametrize('patches,channels,heads', [
    (3, 4, 1),  # one head per group: a key counts if valid in any patch
    (1, 8, 4),  # the plain mode's heads over the channels of one patch
    (5, 4, 2),  # heads of 10 channels = 2.5 patches, straddling patch 2
    (20, 8, 8),  # the reference's heads over extra patches: 20 channels each
    (7, 3, 21),  # heads narrower than a patch
])
def test_key_mask_matches_per_channel_validity(patches, channels, heads):
    """A key is valid for a head iff it is valid in one of the patches the head's channels (a
    contiguous block of the stacked patch·C + c channels) come from."""
    gen = torch.Generator().manual_seed(0)
    groups, positions = 4, 6
    valid = (torch.rand(groups, positions, patches, generator=gen) > 0.7).float()
    valid[1] = 0  # a group without any valid key
    got = key_mask(valid, heads, channels)
    per_channel = valid.repeat_interleave(channels, dim=-1)  # (groups, positions, patches·C)
    keys = per_channel.view(groups, positions, heads, -1).amax(-1) > 0
    keys = keys.transpose(1, 2).reshape(groups * heads, positions)
    expected = keys | ~keys.any(-1, keepdim=True)
    assert torch.equal(got, expected)
