"""HCL's pooling matrices (kdseg/models/losses/review/hcl.py) are constants of the shape: built
once per (size, pooled sizes, device, dtype), on the device, and returned from the cache after."""
import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from kdseg.models.losses.review.hcl import pooling_matrix


def test_the_second_call_returns_the_cached_matrix_and_runs_no_op(monkeypatch):
    like = torch.zeros(2, 3, 23, 29, dtype=torch.float64)
    first = pooling_matrix(23, [4, 2, 1], like)

    def forbidden(*args, **kwargs):
        raise AssertionError('a pooling matrix was built again')
    for name in ('tensor', 'as_tensor', 'arange', 'zeros'):
        monkeypatch.setattr(torch, name, forbidden)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        second = pooling_matrix(23, (4, 2, 1), like)  # a tuple or a list: the same key
    assert second is first
    assert [e.name for e in prof.events() if e.name.startswith('aten::')] == []


def test_another_dtype_or_size_is_another_matrix():
    like = torch.zeros(1, 1, 23, 29, dtype=torch.float64)
    first = pooling_matrix(23, [4, 2, 1], like)
    single = pooling_matrix(23, [4, 2, 1], like.float())
    assert single is not first and single.dtype == torch.float32
    assert torch.allclose(single.double(), first, rtol=1e-7, atol=0)
    assert pooling_matrix(29, [4, 2, 1], like).shape == (7, 29)
    assert pooling_matrix(1, [], like).shape == (0, 1)


def test_a_matrix_first_built_in_inference_mode_serves_a_training_step():
    """Built under torch.inference_mode (an evaluation before the first step), the cached matrix
    is a normal tensor, which autograd can use."""
    with torch.inference_mode():
        matrix = pooling_matrix(31, [4, 2, 1], torch.zeros(1, 1, 31, 31))
    assert not matrix.is_inference()
    x = torch.randn(31, 2, requires_grad=True)
    (matrix @ x).sum().backward()
    assert x.grad is not None


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="needs a CUDA device: the GPU machine's run")
def test_building_a_matrix_on_cuda_copies_nothing_from_the_host():
    torch.cuda.set_sync_debug_mode('error')
    try:
        matrix = pooling_matrix(37, [4, 2, 1], torch.zeros(1, device='cuda'))
    finally:
        torch.cuda.set_sync_debug_mode('default')
    assert matrix.device.type == 'cuda' and matrix.shape == (7, 37)
