"""Tests of kdseg.models.losses.tat.loss.TaTLoss against METHODS.md section 1 (TaT), through the
independent naive float64 formulations of :mod:`.naive`. The tests of the semantics run on both
code paths (``impl='fused'`` and ``impl='reference'``, the package's reference formulation), so the
reference formulation is itself checked against the independent statement; test_impl.py checks the
two paths against each other."""
import pytest
import torch

from kdseg.models.losses.tat import TaTLoss

from .naive import (all_grads, build, close, grads_of, make_inputs, naive_embed, naive_kdseg,
                    naive_one_to_all, naive_tat_seg, naive_tat_seg_eval, params_of)

IMPLS = pytest.mark.parametrize('impl', ['fused', 'reference'])


# --------------------------------------------------------------------------------------------
@IMPLS
@pytest.mark.parametrize('shape,patches,groups,anchors', [
    ((13, 11), (4, 3), 4, (3, 2)),  # floor tiling drops a row and two columns; 3 patches/group
    ((16, 16), (4, 4), 16, (4, 4)),  # divisible; one patch per group
    ((9, 12), (3, 2), 1, (2, 3)),  # a single group holding all patches
])
def test_reference_mode_matches_naive_formulation(shape, patches, groups, anchors, impl):
    loss = build(num_patches=patches, num_groups=groups, num_anchors=anchors, reference=True,
                 loss_weight=0.7, patch_weight=1.3, anchor_weight=0.4, impl=impl)
    student, teacher = make_inputs(height=shape[0], width=shape[1])
    params = params_of(loss)
    naive_loss = build(impl=impl, num_patches=patches, num_groups=groups, num_anchors=anchors,
                       reference=True, loss_weight=0.7, patch_weight=1.3, anchor_weight=0.4)
    naive_loss.load_state_dict(loss.state_dict())

    value = loss(student, teacher)
    expected, _ = naive_tat_seg(student, teacher, naive_loss, *patches, groups, *anchors)
    close(value, expected)
    for got, want in zip(grads_of(value, [student] + params),
                         grads_of(expected, [student] + params_of(naive_loss))):
        close(got, want)

@IMPLS
def test_reference_running_stats_match_sequential_per_sample_updates(impl):
    loss = build(impl=impl, num_patches=(4, 3), num_groups=4, num_anchors=(3, 2), reference=True)
    for module in (loss.query, loss.key, loss.value):  # non-trivial starting point
        module[1].running_mean.uniform_(-1, 1)
        module[1].running_var.uniform_(0.5, 2)
    before = {name: b.clone() for name, b in loss.named_buffers()}
    student, teacher = make_inputs()
    loss(student, teacher)
    _, stats = naive_tat_seg(student, teacher, loss, 4, 3, 4, 3, 2)
    positions = student.shape[2] * student.shape[3]
    for i, name in enumerate(('query', 'key', 'value')):
        mean, var = before[f'{name}.1.running_mean'], before[f'{name}.1.running_var']
        for sample_stats in stats:  # one BatchNorm momentum step per sample, in order
            m, v = sample_stats[i]
            mean = 0.9 * mean + 0.1 * m
            var = 0.9 * var + 0.1 * v * positions / (positions - 1)
        module = getattr(loss, name)[1]
        close(module.running_mean, mean.detach(), 1e-12)
        close(module.running_var, var.detach(), 1e-12)
        assert module.num_batches_tracked.item() == student.shape[0]

@IMPLS
def test_eval_mode_uses_running_stats(impl):
    loss = build(impl=impl, num_patches=(4, 3), num_groups=4, num_anchors=(3, 2), reference=True)
    student, teacher = make_inputs()
    loss(student, teacher)  # moves the running statistics
    loss.eval()
    buffers = {name: b.clone() for name, b in loss.named_buffers()}
    value = loss(student, teacher)
    for name, b in loss.named_buffers():
        assert torch.equal(b, buffers[name])

    expected = naive_tat_seg_eval(student, teacher, loss, 4, 3, 4, 3, 2)
    close(value, expected)
    for got, want in zip(grads_of(value, [student] + params_of(loss)),
                         grads_of(expected, [student] + params_of(loss))):
        close(got, want)

@IMPLS
@pytest.mark.parametrize('kwargs,patch,anchor', [
    # 13×11 with 4×3 patches of 3×3: cover adds a partial row and column of patches (5×4 = 20
    # patches), groups of 3 straddle patch rows and the last group has an empty patch.
    (dict(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2)), ((3, 3), 3), (4, 5)),
    (dict(patch_size=(4, 5), anchor_size=(5, 4)), ((4, 5), 1), (5, 4)),
    (dict(mode='patch', num_patches=(2, 2)), ((6, 5), 1), None),
    (dict(mode='anchor', num_anchors=(2, 2)), None, (6, 5)),
])
def test_default_mode_matches_naive_cover_semantics(kwargs, patch, anchor, impl):
    loss = build(impl=impl, loss_weight=0.9, patch_weight=1.2, anchor_weight=0.6, **kwargs)
    student, teacher = make_inputs()
    value = loss(student, teacher)
    expected = naive_kdseg(student, teacher, loss, patch=patch, anchor=anchor)
    close(value, expected)
    for got, want in zip(grads_of(value, [student] + params_of(loss)),
                         grads_of(expected, [student] + params_of(loss))):
        close(got, want)

def _padded_batch():
    """Two samples: the second image covers only the top-left 9×7 of the 13×11 feature map."""
    valid = torch.ones(3, 13, 11, dtype=torch.bool)
    valid[1, 9:] = False
    valid[1, :, 7:] = False
    valid[2, :, 10:] = False
    return valid

@IMPLS
@pytest.mark.parametrize('bn_stats,tiling', [('batch', 'cover'), ('sample', 'cover'),
                                             ('sample', 'floor')])
def test_padded_positions_are_excluded(bn_stats, tiling, impl):
    loss = build(impl=impl, num_patches=(4, 3), num_groups=4, num_anchors=(3, 2), bn_stats=bn_stats,
                 tiling=tiling)
    student, teacher = make_inputs()
    valid = _padded_batch()
    value = loss(student, teacher, valid_mask=valid)
    if bn_stats == 'batch':
        close(value, naive_kdseg(student, teacher, loss, valid, ((3, 3), 3), (4, 5)))
    grads = grads_of(value, [student] + params_of(loss))

    # anything in the padded area, student or teacher, changes nothing
    noise_s, noise_t = (torch.randn_like(x) * 10 * ~valid[:, None] for x in (student, teacher))
    student2 = (student.detach() + noise_s).requires_grad_()
    value2 = loss(student2, teacher + noise_t, valid_mask=valid[:, None])
    close(value2, value)
    grads2 = grads_of(value2, [student2] + params_of(loss))
    for got, want in zip(grads2, grads):
        close(got, want)
    assert not (grads[0] * ~valid[:, None]).any()  # no gradient into the padding

@IMPLS
@pytest.mark.parametrize('bn_stats', ['batch', 'sample'])
def test_sample_without_valid_positions_contributes_zero(bn_stats, impl):
    loss = build(impl=impl, num_patches=(4, 3), num_groups=4, num_anchors=(3, 2), bn_stats=bn_stats)
    student, teacher = make_inputs()
    valid = torch.ones(3, 13, 11, dtype=torch.bool)
    valid[1] = False
    value = loss(student, teacher, valid_mask=valid)
    others = loss(student[[0, 2]], teacher[[0, 2]])
    close(value, others * 2 / 3)
    grad, = grads_of(value, student)
    assert torch.isfinite(grad).all() and not grad[1].any()

@IMPLS
def test_data_samples_mark_the_padded_border(impl):
    BaseDataElement = pytest.importorskip('mmengine.structures').BaseDataElement
    loss = build(impl=impl, num_patches=(4, 3), num_groups=4, num_anchors=(3, 2))
    student, teacher = make_inputs()
    # features at stride 8 of a 104×88 batch; images 104×88, 72×56 and 101×80 pixels
    samples = [BaseDataElement(metainfo=dict(img_shape=shape, batch_input_shape=(104, 88)))
               for shape in ((104, 88), (72, 56), (101, 80))]
    close(loss(student, teacher, data_samples=samples),
          loss(student, teacher, valid_mask=_padded_batch()))
    full = [BaseDataElement(metainfo=dict(img_shape=(104, 88), batch_input_shape=(104, 88)))] * 3
    close(loss(student, teacher, data_samples=full), loss(student, teacher))
    with pytest.raises(ValueError, match='batch_input_shape'):
        loss(student, teacher, data_samples=[BaseDataElement(metainfo=dict(img_shape=(9, 9)))] * 3)

@IMPLS
def test_cover_equals_floor_when_tiles_divide_the_map(impl):
    for bn_stats in ('batch', 'sample'):
        kwargs = dict(num_patches=(4, 3), num_groups=4, num_anchors=(2, 3), bn_stats=bn_stats)
        cover = build(tiling='cover', impl=impl, **kwargs)
        floor = build(tiling='floor', impl=impl, **kwargs)
        floor.load_state_dict(cover.state_dict())
        student, teacher = make_inputs(height=12, width=9)
        a, b = cover(student, teacher), floor(student, teacher)
        assert torch.equal(a, b)

@IMPLS
def test_border_counts_with_cover_tiling_only(impl):
    """Changing only the pixels that floor tiling drops changes the default (cover) loss and not
    the reference (floor) loss. In eval mode, since training-mode BatchNorm statistics include the
    border in both (as in the reference)."""
    student, teacher = make_inputs()
    border = torch.zeros(13, 11, dtype=torch.bool)
    border[12:] = border[:, 9:] = True  # 4×3 tiles of 3×3 drop row 12 and columns 9-10
    student2 = student.detach() + 5 * torch.randn_like(student) * border
    teacher2 = teacher + 5 * torch.randn_like(teacher) * border
    kwargs = dict(num_patches=(4, 3), num_groups=4, num_anchors=(4, 3))
    cover = build(impl=impl, **kwargs).eval()
    floor = build(reference=True, impl=impl, **kwargs).eval()
    assert torch.equal(floor(student, teacher), floor(student2, teacher2))
    assert not torch.allclose(cover(student, teacher), cover(student2, teacher2))

@IMPLS
def test_plain_matches_naive_one_to_all_with_heads(impl):
    loss = build(impl=impl, mode='plain', num_groups=2, bn_stats='sample')
    student, teacher = make_inputs(height=7, width=6)
    value = loss(student, teacher)
    expected = 0
    for s, t in zip(student, teacher):
        q, k, v = (naive_embed(x, m[0].weight, m[1].weight, m[1].bias)[0]
                   for x, m in ((s, loss.query), (t, loss.key), (s, loss.value)))
        expected = expected + naive_one_to_all(q, k, v, t, 2) / student.shape[0]
    close(value, expected)
    for got, want in zip(grads_of(value, [student] + params_of(loss)),
                         grads_of(expected, [student] + params_of(loss))):
        close(got, want)

@IMPLS
@pytest.mark.parametrize('bn_stats', ['batch', 'sample'])
def test_plain_equals_hierarchical_with_one_patch_one_group_no_anchors(bn_stats, impl):
    plain = build(impl=impl, mode='plain', bn_stats=bn_stats)
    hier = build(impl=impl, num_patches=(1, 1), num_groups=1, num_anchors=(2, 2), anchor_weight=0.0,
                 bn_stats=bn_stats)
    hier.load_state_dict(plain.state_dict())
    student, teacher = make_inputs(height=7, width=6)
    a, b = plain(student, teacher), hier(student, teacher)
    close(a, b, 1e-12)
    for got, want in zip(grads_of(a, [student] + params_of(plain)),
                         grads_of(b, [student] + params_of(hier))):
        close(got, want, 1e-10)

@IMPLS
@pytest.mark.parametrize('shape,kwargs,patch,anchor', [
    ((1, 1), dict(num_patches=(4, 4), num_anchors=(2, 2)), ((1, 1), 1), (1, 1)),
    ((6, 5), dict(num_patches=(1, 1), num_anchors=(1, 1)), ((6, 5), 1), (6, 5)),  # tile == map
    ((6, 5), dict(patch_size=(6, 5), anchor_size=(6, 5)), ((6, 5), 1), (6, 5)),
    ((6, 5), dict(patch_size=(8, 8), anchor_size=(9, 9)), ((8, 8), 1), (9, 9)),  # tile > map
    ((6, 5), dict(num_patches=(6, 5), num_groups=6, num_anchors=(6, 5)), ((1, 1), 5), (1, 1)),
])
def test_degenerate_sizes(shape, kwargs, patch, anchor, impl):
    loss = build(impl=impl, **kwargs)
    student, teacher = make_inputs(batch=2, height=shape[0], width=shape[1])
    value = loss(student, teacher)
    assert torch.isfinite(value)
    close(value, naive_kdseg(student, teacher, loss, patch=patch, anchor=anchor))

@IMPLS
def test_degenerate_sizes_in_reference_mode(impl):
    loss = build(impl=impl, num_patches=(4, 4), num_anchors=(2, 2), reference=True)
    student, teacher = make_inputs(batch=2, height=1, width=1)
    with pytest.raises(ValueError, match='single value per channel'):
        loss(student, teacher)
    with pytest.raises(ValueError, match=r'num_patches=\(4, 4\) does not fit'):
        loss(*make_inputs(batch=2, height=3, width=9))
    loss = build(impl=impl, num_patches=(1, 1), num_anchors=(1, 1), reference=True)  # tiles == map
    student, teacher = make_inputs(height=5, width=4)
    expected, _ = naive_tat_seg(student, teacher, loss, 1, 1, 1, 1, 1)
    close(loss(student, teacher), expected)

@IMPLS
def test_gradient_flow(impl):
    loss = build(impl=impl, num_patches=(4, 3), num_groups=4, num_anchors=(3, 2))
    student, teacher = make_inputs()
    teacher.requires_grad_()
    loss(student, teacher).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0
    for name, p in loss.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0 or name == 'key.1.bias', name

@IMPLS
def test_float32_agrees_with_float64(impl):
    loss64 = build(impl=impl, num_patches=(4, 3), num_groups=4, num_anchors=(3, 2))
    loss32 = TaTLoss(6, 8, impl=impl, num_patches=(4, 3), num_groups=4, num_anchors=(3, 2))
    loss32.load_state_dict(loss64.state_dict())
    student, teacher = make_inputs()
    s32 = student.detach().float().requires_grad_()
    v64, v32 = loss64(student, teacher), loss32(s32, teacher.float())
    close(v32.double(), v64, 1e-5, 0)
    close(grads_of(v32, s32)[0].double(), grads_of(v64, student)[0], 1e-4, 0)

@IMPLS
def test_batch_mode_running_stats_match_batchnorm(impl):
    loss = build(impl=impl, num_patches=(4, 3), num_anchors=(3, 2))
    student, teacher = make_inputs()
    reference = build(impl=impl, num_patches=(4, 3), num_anchors=(3, 2))
    reference.load_state_dict(loss.state_dict())
    loss(student, teacher)
    reference.query(student)
    reference.key(teacher)
    reference.value(student)
    for name in ('query', 'key', 'value'):
        for buffer in ('running_mean', 'running_var', 'num_batches_tracked'):
            close(getattr(getattr(loss, name)[1], buffer).double(),
                  getattr(getattr(reference, name)[1], buffer).double(), 1e-12)

@IMPLS
def test_resize_student(impl):
    loss = build(impl=impl, num_patches=(2, 2), num_anchors=(2, 2), resize_student=True)
    student, teacher = make_inputs(height=13, width=11)
    small = torch.nn.functional.interpolate(student.detach(), size=(7, 6), mode='bilinear',
                                            align_corners=False)
    resized = torch.nn.functional.interpolate(small, size=(13, 11), mode='bilinear',
                                              align_corners=False)
    close(loss(small, teacher), loss(resized, teacher))

def test_backward_twice_raises():
    loss = build(num_patches=(4, 3), num_anchors=(3, 2))
    value = loss(*make_inputs())
    value.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match='twice'):
        value.backward()

@pytest.mark.parametrize('kwargs,message', [
    (dict(num_patches=(4, 4), num_groups=3, num_anchors=(2, 2)), 'num_groups=3 must divide'),
    (dict(mode='plain', num_groups=3), r"num_groups=3 \(heads in mode='plain'\) must divide"),
    (dict(patch_size=(4, 4), num_groups=2, num_anchors=(2, 2)), 'num_groups needs num_patches'),
    (dict(num_anchors=(2, 2)), 'exactly one of num_patches and patch_size'),
    (dict(num_patches=(2, 2), patch_size=(2, 2), num_anchors=(2, 2)), 'exactly one of'),
    (dict(num_patches=(2, 2)), 'exactly one of num_anchors and anchor_size'),
    (dict(mode='patch', num_patches=(2, 2), num_anchors=(2, 2)), 'num_anchors is not used'),
    (dict(mode='tat'), 'mode must be one of'),
    (dict(num_patches=(2, 0), num_anchors=(2, 2)), 'num_patches must be a pair of positive'),
    (dict(num_patches=(2, 2), num_anchors=(2, 2), reference=True, tiling='cover'),
     "reference=True uses tiling='floor'"),
    (dict(num_patches=(2, 2), num_anchors=(2, 2), bn_stats='group'), 'bn_stats must be'),
])
def test_configuration_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TaTLoss(6, 8, **kwargs)

@IMPLS
def test_input_errors(impl):
    loss = build(impl=impl, num_patches=(2, 2), num_anchors=(2, 2))
    student, teacher = make_inputs()
    with pytest.raises(ValueError, match='student_channels=6, but the student feature has 5'):
        loss(student[:, :5], teacher)
    with pytest.raises(ValueError, match='teacher_channels=8, but the teacher feature has 7'):
        loss(student, teacher[:, :7])
    with pytest.raises(ValueError, match='differ in H×W; set resize_student=True'):
        loss(student[..., :12, :], teacher)
    with pytest.raises(ValueError, match=r'valid_mask must be \(B, H, W\)'):
        loss(student, teacher, valid_mask=torch.ones(3, 12, 11, dtype=torch.bool))

# --------------------------------------------------------------------------------------------
# reference=True when floor tiling yields more patches than n×m (METHODS.md 1.2, edge case):
# the reference stacks every patch and splits the stacked channels into G heads regardless.
@IMPLS
@pytest.mark.parametrize('shape,channels,patches,groups', [
    ((9, 10), 8, (4, 4), 8),  # 4×5 = 20 patches of 2×2; heads of 20 channels = 2.5 patches
    ((9, 10), 8, (4, 4), 4),  # heads of 5 whole patches (not n·m/G = 4)
    ((65, 66), 16, (32, 32), 512),  # METHODS.md's example: 32×33 patches, 2.06 per head
])
def test_reference_mode_reproduces_heads_across_extra_patches(shape, channels, patches, groups,
                                                               impl):
    loss = build(impl=impl, teacher_channels=channels, num_patches=patches, num_groups=groups,
                 num_anchors=(2, 3), reference=True)
    student, teacher = make_inputs(batch=2, ct=channels, height=shape[0], width=shape[1])
    value = loss(student, teacher)
    expected, _ = naive_tat_seg(student, teacher, loss, *patches, groups, 2, 3)
    close(value, expected)
    for got, want in zip(all_grads(value, student, loss), all_grads(expected, student, loss)):
        close(got, want)

@IMPLS
@pytest.mark.parametrize('shape,channels,patches,groups,stacked', [
    ((66, 66), 8, (32, 32), 1024, '33×33 = 1089 patches × 8 channels = 8712'),
    ((9, 10), 6, (4, 4), 16, '4×5 = 20 patches × 6 channels = 120'),
])
def test_reference_mode_rejects_what_the_reference_cannot_split(shape, channels, patches, groups,
                                                                stacked, impl):
    loss = build(impl=impl, teacher_channels=channels, num_patches=patches, num_groups=groups,
                 num_anchors=(2, 2), reference=True)
    student, teacher = make_inputs(batch=2, ct=channels, height=shape[0], width=shape[1])
    with pytest.raises(ValueError, match=rf'num_groups={groups}.*{stacked}'):
        loss(student, teacher)
    with pytest.raises(ValueError, match='do not split'):  # and the reference fails there too
        naive_tat_seg(student, teacher, loss, *patches, groups, 2, 2)

# --------------------------------------------------------------------------------------------
@IMPLS
@pytest.mark.parametrize('kwargs', [
    dict(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2), reference=True),
    dict(patch_size=(3, 3), anchor_size=(4, 5)),
    dict(mode='plain', num_groups=2),
])
def test_autocast_computes_in_float32(kwargs, impl):
    """Under CPU bfloat16 autocast the loss equals the float32 loss: its attention logits are
    unscaled sums over p·C channels, which bfloat16 cannot resolve, so it runs in float32, and the
    denormal cut-off stays at float32's eps². BatchNorm weights of 1 to 3 make the attention
    peaked enough that a cut-off at bfloat16's eps² (6e-5) would change these losses by 4e-6 to
    6e-5 (relative), beyond the tolerance."""
    loss = build(torch.float32, impl=impl, **kwargs)
    for module in (loss.query, loss.key):
        module[1].weight.data *= 2
    student, teacher = make_inputs(dtype=torch.float32)
    expected = loss(student, teacher)
    expected_grads = all_grads(expected, student, loss)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        value = loss(student, teacher)
    grads = all_grads(value, student, loss)  # backward outside autocast, as PyTorch advises
    assert value.dtype == torch.float32
    close(value, expected, 1e-6, 0)
    for got, want in zip(grads, expected_grads):
        assert got.dtype == torch.float32
        close(got, want, 1e-6, 1e-9)

    # bfloat16 features (what an autocast model gives): the float32 loss of their values
    s16, t16 = student.detach().bfloat16().requires_grad_(), teacher.bfloat16()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        value = loss(s16, t16)
    s32 = s16.detach().float().requires_grad_()
    expected = loss(s32, t16.float())
    close(value, expected, 1e-6, 0)
    got, = grads_of(value, s16)
    assert got.dtype == torch.bfloat16
    close(got.float(), grads_of(expected, s32)[0].bfloat16().float(), 1e-2, 0)


@IMPLS
def test_reference_heads_across_extra_patches_exclude_padding(impl):
    """Heads that straddle patches (9×10, 4×4 patches of 2×2 → 4×5 patches, G = 8) with a padded
    batch: the padded area changes nothing and gets no gradient."""
    loss = build(num_patches=(4, 4), num_groups=8, num_anchors=(2, 3), reference=True, impl=impl)
    student, teacher = make_inputs(height=9, width=10)
    valid = torch.ones(3, 9, 10, dtype=torch.bool)
    valid[1, 5:] = False
    valid[2, :, 3:] = False
    value = loss(student, teacher, valid_mask=valid)
    grads = all_grads(value, student, loss)
    noise_s, noise_t = (torch.randn_like(x) * 10 * ~valid[:, None] for x in (student, teacher))
    student2 = (student.detach() + noise_s).requires_grad_()
    value2 = loss(student2, teacher + noise_t, valid_mask=valid)
    close(value2, value)
    for got, want in zip(all_grads(value2, student2, loss), grads):
        close(got, want)
    assert not (grads[0] * ~valid[:, None]).any()
