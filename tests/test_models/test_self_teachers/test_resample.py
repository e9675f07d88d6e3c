"""Size-aware resampling: the references' operations on halving pairs, identity on equal ones."""
import pytest
import torch
import torch.nn.functional as F

from kdseg.models.self_teachers.resample import (downsample_to, resize_to, same_pool_padding,
                                                 upsample_to)

from . import reference as ref


@pytest.mark.parametrize('size', [(1, 1), (4, 6), (7, 10), (13, 19)])
def test_equal_sizes_are_the_identity(size):
    x = torch.randn(2, 3, *size)
    assert upsample_to(x, size) is x
    assert downsample_to(x, size) is x


@pytest.mark.parametrize('size', [(1, 1), (3, 5), (4, 6), (7, 10)])
def test_upsampling_twice_the_size_repeats_each_pixel(size):
    x = torch.randn(2, 3, *size)
    target = (2 * size[0], 2 * size[1])
    assert torch.equal(upsample_to(x, target), ref.upsample_by_two(x, target))


@pytest.mark.parametrize('source, target', [((4, 6), (7, 10)), ((13, 19), (25, 38)),
                                            ((2, 3), (9, 4)), ((7, 10), (7, 19))])
def test_upsampling_to_other_sizes_is_nearest_to_the_exact_size(source, target):
    x = torch.randn(2, 3, *source)
    out = upsample_to(x, target)
    assert out.shape == (2, 3, *target)
    assert torch.equal(out, ref.upsample_nearest(x, target))


@pytest.mark.parametrize('size', [(2, 2), (8, 8), (4, 6), (7, 10), (13, 19), (25, 38), (2, 3),
                                  (3, 1)])
def test_downsampling_to_the_ceiling_half_is_the_reference_same_pool(size):
    # the reference's zero padding on a ReLU output (≥ 0, the only input it sees)
    x = torch.relu(torch.randn(2, 3, *size, dtype=torch.float64)).requires_grad_()
    target = (-(-size[0] // 2), -(-size[1] // 2))
    ours, expected = downsample_to(x, target), ref.same_maxpool(x, target)
    assert torch.equal(ours, expected)
    upstream = torch.randn_like(expected)
    grad, = torch.autograd.grad(ours, x, upstream)
    expected_grad, = torch.autograd.grad(expected, x, upstream)
    # a zero may tie with a zero pad, which the reference routes into the padding and kdseg's
    # −∞ padding to the zero itself; the ReLU before it drops that gradient either way
    positive = x.detach() > 0
    assert torch.equal(grad[positive], expected_grad[positive])


def test_same_pool_pads_with_minus_infinity_so_negative_maps_keep_their_maximum():
    x = -torch.rand(1, 1, 4, 4) - 1  # all in [−2, −1)
    out = downsample_to(x, (2, 2))
    # (0, 1) padding: the windows are rows/columns {0, 1, 2} and {2, 3}
    windows = [(0, 3), (2, 4)]
    expected = torch.stack([torch.stack([x[0, 0, r0:r1, c0:c1].max() for c0, c1 in windows])
                            for r0, r1 in windows])
    assert torch.equal(out[0, 0], expected)


@pytest.mark.parametrize('n', range(1, 21))
def test_same_pool_padding_gives_the_ceiling_half(n):
    before, after = same_pool_padding(n)
    assert (before, after) == ((0, 1) if n % 2 == 0 else (1, 1))
    assert (n + before + after - 3) // 2 + 1 == -(-n // 2)


def test_one_dimension_halving_and_the_other_equal_pools_that_dimension_only():
    x = torch.relu(torch.randn(2, 3, 8, 10))
    out = downsample_to(x, (8, 5))
    # each row pooled on its own by the reference's "same" pool along the width
    rows = ref.same_maxpool(x.reshape(2 * 3 * 8, 1, 1, 10), (1, 5)).reshape(2, 3, 8, 5)
    assert torch.equal(out, rows)
    cols = ref.same_maxpool(x.transpose(2, 3).reshape(-1, 1, 1, 8), (1, 4)).reshape(2, 3, 10, 4)
    assert torch.equal(downsample_to(x, (4, 10)), cols.transpose(2, 3))


@pytest.mark.parametrize('source, target', [((24, 20), (6, 10)), ((25, 38), (12, 19)),
                                            ((9, 9), (2, 2))])
def test_other_ratios_fall_back_to_adaptive_max_pooling(source, target):
    x = torch.randn(2, 3, *source)
    assert torch.equal(downsample_to(x, target), F.adaptive_max_pool2d(x, target))


@pytest.mark.parametrize('mode', ['bilinear', 'nearest'])
def test_resize_to_is_the_identity_between_equal_sizes(mode):
    x = torch.randn(2, 3, 5, 7)
    assert resize_to(x, (5, 7), mode) is x


def test_resize_to_is_the_authors_bifpnseg_resampling_when_levels_halve():
    """Bilinear up is their ``nn.Upsample(scale_factor=2, mode='bilinear')`` (align_corners
    False); nearest down is ``F.interpolate`` at its default mode: every other element."""
    x = torch.randn(2, 3, 6, 10, dtype=torch.float64)
    torch.testing.assert_close(resize_to(x, (12, 20), 'bilinear'),
                               torch.nn.Upsample(scale_factor=2, mode='bilinear')(x),
                               rtol=0, atol=0)
    torch.testing.assert_close(resize_to(x, (3, 5), 'nearest'), x[:, :, ::2, ::2], rtol=0, atol=0)
