"""Tests of kdseg.models.losses.tat.loss.TaTLoss against METHODS.md section 1 (TaT)."""
import math

import pytest
import torch
from mmengine.structures import BaseDataElement

import kdseg  # noqa: F401  (registers TaTLoss)
from kdseg.models.losses.tat import TaTLoss
from mmrazor.registry import MODELS

EPS = 1e-5  # BatchNorm2d default eps


# --------------------------------------------------------------------------------------------
# An independent, deliberately naive statement of METHODS.md 1.1-1.4 (the TaT-seg reference):
# a loop over samples, BatchNorm by hand per sample, patches sliced one by one, softmax by exp/sum.
def _naive_embed(x, conv_weight, gamma, beta):
    """x (C_in, H, W) → BatchNorm(conv1x1(x)) with this sample's statistics; also (mean, var)."""
    z = torch.einsum('oc,chw->ohw', conv_weight[:, :, 0, 0], x)
    mean = z.mean(dim=(1, 2), keepdim=True)
    var = ((z - mean) ** 2).mean(dim=(1, 2), keepdim=True)
    y = (z - mean) / torch.sqrt(var + EPS) * gamma[:, None, None] + beta[:, None, None]
    return y, mean.flatten(), var.flatten()


def _naive_one_to_all(q, k, v, t, heads):
    """MSE-mean of softmax(QKᵀ)V against t, inputs (C, h, w), heads over channel blocks."""
    channels = q.shape[0]
    d = channels // heads
    outs = []
    for h in range(heads):
        block = slice(h * d, (h + 1) * d)
        qh, kh, vh = (x[block].reshape(d, -1).T for x in (q, k, v))  # (positions, d)
        logits = qh @ kh.T
        e = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
        attn = e / e.sum(dim=1, keepdim=True)
        outs.append((attn @ vh).T.reshape(d, *t.shape[1:]))
    return ((torch.cat(outs) - t) ** 2).mean()


def _naive_stack_patches(x, n, m):
    """(C, H, W) → (num_patches·C, ph, pw), floor tiling, channel = patch·C + c."""
    _, height, width = x.shape
    ph, pw = height // n, width // m
    return torch.cat([x[:, r * ph:(r + 1) * ph, c * pw:(c + 1) * pw]
                      for r in range(height // ph) for c in range(width // pw)])


def _naive_pool(x, ah, aw):
    _, height, width = x.shape
    kh, kw = height // ah, width // aw
    rows = [torch.stack([x[:, i * kh:(i + 1) * kh, j * kw:(j + 1) * kw].mean(dim=(1, 2))
                         for j in range(width // kw)], dim=-1) for i in range(height // kh)]
    return torch.stack(rows, dim=-2)


def naive_tat_seg(student, teacher, loss, n, m, groups, ah, aw):
    """The TaT-seg objective, one sample at a time; returns the loss and per-sample BN stats."""
    embeds = [(loss.query, 's'), (loss.key, 't'), (loss.value, 's')]
    losses, stats = [], []
    for s, t in zip(student, teacher):
        q, k, v = (_naive_embed(s if src == 's' else t, mod[0].weight, mod[1].weight,
                                mod[1].bias) for mod, src in embeds)
        stats.append([q[1:], k[1:], v[1:]])
        q, k, v = q[0], k[0], v[0]
        patch = _naive_one_to_all(*(_naive_stack_patches(x, n, m) for x in (q, k, v, t)), groups)
        anchor = _naive_one_to_all(*(_naive_pool(x, ah, aw) for x in (q, k, v, t)), 1)
        losses.append(loss.patch_weight * patch + loss.anchor_weight * anchor)
    return loss.loss_weight * sum(losses) / len(losses), stats


def _randomise(loss, seed=0):
    """Non-trivial BatchNorm affine parameters (γ away from 1, β away from 0)."""
    gen = torch.Generator().manual_seed(seed)
    for module in (loss.query, loss.key, loss.value):
        module[1].weight.data = 0.5 + torch.rand(module[1].weight.shape, generator=gen,
                                                 dtype=module[1].weight.dtype)
        module[1].bias.data = torch.randn(module[1].bias.shape, generator=gen,
                                          dtype=module[1].bias.dtype)
    return loss


def _params(loss):
    return [loss.query[0].weight, loss.key[0].weight, loss.value[0].weight,
            loss.query[1].weight, loss.query[1].bias, loss.key[1].weight, loss.key[1].bias,
            loss.value[1].weight, loss.value[1].bias]


def _inputs(batch=3, cs=6, ct=8, height=13, width=11, seed=1, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    student = torch.randn(batch, cs, height, width, generator=gen, dtype=dtype)
    teacher = torch.randn(batch, ct, height, width, generator=gen, dtype=dtype) + 0.5
    return student.requires_grad_(), teacher


def _grads(value, tensors):
    return torch.autograd.grad(value, tensors)


def _close(actual, expected, rtol=1e-6, atol=1e-13):
    """Relative to the largest entry; ``atol`` only for exactly-zero quantities (the key's β gets
    no gradient: adding a constant to every key shifts each logit row by a constant)."""
    assert (actual - expected).abs().max() <= rtol * expected.abs().max() + atol, (
        actual, expected)


def _build(**kwargs):
    cfg = dict(student_channels=6, teacher_channels=8)
    cfg.update(kwargs)
    return _randomise(TaTLoss(**cfg).double())


# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize('shape,patches,groups,anchors', [
    ((13, 11), (4, 3), 4, (3, 2)),  # floor tiling drops a row and two columns; 3 patches/group
    ((16, 16), (4, 4), 16, (4, 4)),  # divisible; one patch per group
    ((9, 12), (3, 2), 1, (2, 3)),  # a single group holding all patches
])
def test_reference_mode_matches_naive_formulation(shape, patches, groups, anchors):
    loss = _build(num_patches=patches, num_groups=groups, num_anchors=anchors, reference=True,
                  loss_weight=0.7, patch_weight=1.3, anchor_weight=0.4)
    student, teacher = _inputs(height=shape[0], width=shape[1])
    params = _params(loss)
    naive_loss = _build(num_patches=patches, num_groups=groups, num_anchors=anchors,
                        reference=True, loss_weight=0.7, patch_weight=1.3, anchor_weight=0.4)
    naive_loss.load_state_dict(loss.state_dict())

    value = loss(student, teacher)
    expected, _ = naive_tat_seg(student, teacher, naive_loss, *patches, groups, *anchors)
    _close(value, expected)
    for got, want in zip(_grads(value, [student] + params),
                         _grads(expected, [student] + _params(naive_loss))):
        _close(got, want)


def test_reference_running_stats_match_sequential_per_sample_updates():
    loss = _build(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2), reference=True)
    for module in (loss.query, loss.key, loss.value):  # non-trivial starting point
        module[1].running_mean.uniform_(-1, 1)
        module[1].running_var.uniform_(0.5, 2)
    before = {name: b.clone() for name, b in loss.named_buffers()}
    student, teacher = _inputs()
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
        _close(module.running_mean, mean.detach(), 1e-12)
        _close(module.running_var, var.detach(), 1e-12)
        assert module.num_batches_tracked.item() == student.shape[0]


def test_eval_mode_uses_running_stats():
    loss = _build(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2), reference=True)
    student, teacher = _inputs()
    loss(student, teacher)  # moves the running statistics
    loss.eval()
    buffers = {name: b.clone() for name, b in loss.named_buffers()}
    value = loss(student, teacher)
    for name, b in loss.named_buffers():
        assert torch.equal(b, buffers[name])

    def embed(module, x):  # what nn.BatchNorm2d does in eval mode
        return module(x)

    # the naive formulation with running-statistics BatchNorm
    def naive_eval(s, t):
        q, k, v = embed(loss.query, s), embed(loss.key, t), embed(loss.value, s)
        total = 0
        for b in range(s.shape[0]):
            patch = _naive_one_to_all(*(_naive_stack_patches(x[b], 4, 3)
                                        for x in (q, k, v, t)), 4)
            anchor = _naive_one_to_all(*(_naive_pool(x[b], 3, 2) for x in (q, k, v, t)), 1)
            total = total + loss.patch_weight * patch + loss.anchor_weight * anchor
        return loss.loss_weight * total / s.shape[0]

    expected = naive_eval(student, teacher)
    _close(value, expected)
    for got, want in zip(_grads(value, [student] + _params(loss)),
                         _grads(expected, [student] + _params(loss))):
        _close(got, want)


# --------------------------------------------------------------------------------------------
# kdseg's generalisation (METHODS.md 1.5), stated naively from TaTLoss's docstring: batch
# BatchNorm statistics over the valid pixels, cover tiling with padded partial tiles, padding
# excluded from statistics, keys and MSE; anchors pool the EMBEDDED map (no commuting trick).
def _naive_batch_embed(x, valid, module):
    z = torch.einsum('oc,bchw->bohw', module[0].weight[:, :, 0, 0], x)
    w = valid[:, None].to(z.dtype)
    count = w.sum()
    mean = (z * w).sum(dim=(0, 2, 3), keepdim=True) / count
    var = (((z - mean) * w) ** 2).sum(dim=(0, 2, 3), keepdim=True) / count
    y = (z - mean) / torch.sqrt(var + EPS) * module[1].weight[:, None, None] \
        + module[1].bias[:, None, None]
    return y * w


def _naive_masked_attention(qs, ks, vs, ts, valids):
    """Per-group stacks: qs… (p, C, P) and valids (p, P) → SSE over valid (patch, position, c)."""
    q, k, v = (x.permute(2, 0, 1).reshape(x.shape[2], -1) for x in (qs, ks, vs))  # (P, p·C)
    logits = q @ k.T
    keys = valids.any(dim=0)
    if not keys.any():
        keys = torch.ones_like(keys)
    logits = logits.masked_fill(~keys[None, :], float('-inf'))
    e = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
    out = (e / e.sum(dim=1, keepdim=True)) @ v  # (P, p·C)
    out = out.reshape(out.shape[0], *qs.shape[:2]).permute(1, 2, 0)  # (p, C, P)
    return (((out - ts) * valids[:, None, :]) ** 2).sum()


def naive_kdseg(student, teacher, loss, valid=None, patch=None, anchor=None):
    """TaTLoss's default semantics (bn_stats='batch', tiling='cover'); patch / anchor are
    (tile_size, patches_per_group) / tile_size in pixels, None to skip the term."""
    batch, _, height, width = teacher.shape
    if valid is None:
        valid = torch.ones(batch, height, width, dtype=torch.bool)
    q = _naive_batch_embed(student, valid, loss.query)
    k = _naive_batch_embed(teacher, valid, loss.key)
    v = _naive_batch_embed(student, valid, loss.value)
    t = teacher
    total = 0
    for b in range(batch):
        ell = 0
        if patch is not None:
            (ph, pw), p = patch
            gh, gw = math.ceil(height / ph), math.ceil(width / pw)
            pad = (0, gw * pw - width, 0, gh * ph - height)
            maps = [torch.nn.functional.pad(x[b], pad) for x in (q, k, v, t)]
            vmap = torch.nn.functional.pad(valid[b], pad)
            tiles = [(r * ph, c * pw) for r in range(gh) for c in range(gw)]
            tiles += [None] * (-len(tiles) % p)  # empty patches complete the last group
            sse = 0
            for g in range(0, len(tiles), p):
                stacks = [[], [], [], []]
                valids = []
                for tile in tiles[g:g + p]:
                    for stack, x in zip(stacks, maps):
                        stack.append(torch.zeros_like(x[:, :ph, :pw]).flatten(1) if tile is None
                                     else x[:, tile[0]:tile[0] + ph, tile[1]:tile[1] + pw]
                                     .flatten(1))
                    valids.append(torch.zeros(ph * pw, dtype=torch.bool) if tile is None else
                                  vmap[tile[0]:tile[0] + ph, tile[1]:tile[1] + pw].flatten())
                sse = sse + _naive_masked_attention(*(torch.stack(s) for s in stacks),
                                                    torch.stack(valids))
            ell = ell + loss.patch_weight * sse / (valid[b].sum() * t.shape[1])
        if anchor is not None:
            kh, kw = anchor
            pooled, anchor_valid = [[], [], [], []], []
            for i in range(0, height, kh):
                for j in range(0, width, kw):
                    w = valid[b, i:i + kh, j:j + kw].to(t.dtype)
                    anchor_valid.append(w.sum() > 0)
                    for out, x in zip(pooled, (q, k, v, t)):
                        out.append((x[b, :, i:i + kh, j:j + kw] * w).sum(dim=(1, 2))
                                   / w.sum().clamp(min=1))
            anchor_valid = torch.stack(anchor_valid)
            sse = _naive_masked_attention(*(torch.stack(x, dim=1)[None] for x in pooled),
                                          anchor_valid[None])
            ell = ell + loss.anchor_weight * sse / (anchor_valid.sum() * t.shape[1])
        total = total + ell
    return loss.loss_weight * total / batch


@pytest.mark.parametrize('kwargs,patch,anchor', [
    # 13×11 with 4×3 patches of 3×3: cover adds a partial row and column of patches (5×4 = 20
    # patches), groups of 3 straddle patch rows and the last group has an empty patch.
    (dict(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2)), ((3, 3), 3), (4, 5)),
    (dict(patch_size=(4, 5), anchor_size=(5, 4)), ((4, 5), 1), (5, 4)),
    (dict(mode='patch', num_patches=(2, 2)), ((6, 5), 1), None),
    (dict(mode='anchor', num_anchors=(2, 2)), None, (6, 5)),
])
def test_default_mode_matches_naive_cover_semantics(kwargs, patch, anchor):
    loss = _build(loss_weight=0.9, patch_weight=1.2, anchor_weight=0.6, **kwargs)
    student, teacher = _inputs()
    value = loss(student, teacher)
    expected = naive_kdseg(student, teacher, loss, patch=patch, anchor=anchor)
    _close(value, expected)
    for got, want in zip(_grads(value, [student] + _params(loss)),
                         _grads(expected, [student] + _params(loss))):
        _close(got, want)


def _padded_batch():
    """Two samples: the second image covers only the top-left 9×7 of the 13×11 feature map."""
    valid = torch.ones(3, 13, 11, dtype=torch.bool)
    valid[1, 9:] = False
    valid[1, :, 7:] = False
    valid[2, :, 10:] = False
    return valid


@pytest.mark.parametrize('bn_stats,tiling', [('batch', 'cover'), ('sample', 'cover'),
                                             ('sample', 'floor')])
def test_padded_positions_are_excluded(bn_stats, tiling):
    loss = _build(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2), bn_stats=bn_stats,
                  tiling=tiling)
    student, teacher = _inputs()
    valid = _padded_batch()
    value = loss(student, teacher, valid_mask=valid)
    if bn_stats == 'batch':
        _close(value, naive_kdseg(student, teacher, loss, valid, ((3, 3), 3), (4, 5)))
    grads = _grads(value, [student] + _params(loss))

    # anything in the padded area, student or teacher, changes nothing
    noise_s, noise_t = (torch.randn_like(x) * 10 * ~valid[:, None] for x in (student, teacher))
    student2 = (student.detach() + noise_s).requires_grad_()
    value2 = loss(student2, teacher + noise_t, valid_mask=valid[:, None])
    _close(value2, value)
    grads2 = _grads(value2, [student2] + _params(loss))
    for got, want in zip(grads2, grads):
        _close(got, want)
    assert not (grads[0] * ~valid[:, None]).any()  # no gradient into the padding


@pytest.mark.parametrize('bn_stats', ['batch', 'sample'])
def test_sample_without_valid_positions_contributes_zero(bn_stats):
    loss = _build(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2), bn_stats=bn_stats)
    student, teacher = _inputs()
    valid = torch.ones(3, 13, 11, dtype=torch.bool)
    valid[1] = False
    value = loss(student, teacher, valid_mask=valid)
    others = loss(student[[0, 2]], teacher[[0, 2]])
    _close(value, others * 2 / 3)
    grad, = _grads(value, student)
    assert torch.isfinite(grad).all() and not grad[1].any()


def test_data_samples_mark_the_padded_border():
    loss = _build(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2))
    student, teacher = _inputs()
    # features at stride 8 of a 104×88 batch; images 104×88, 72×56 and 101×80 pixels
    samples = [BaseDataElement(metainfo=dict(img_shape=shape, batch_input_shape=(104, 88)))
               for shape in ((104, 88), (72, 56), (101, 80))]
    _close(loss(student, teacher, data_samples=samples),
           loss(student, teacher, valid_mask=_padded_batch()))
    full = [BaseDataElement(metainfo=dict(img_shape=(104, 88), batch_input_shape=(104, 88)))] * 3
    _close(loss(student, teacher, data_samples=full), loss(student, teacher))
    with pytest.raises(ValueError, match='batch_input_shape'):
        loss(student, teacher, data_samples=[BaseDataElement(metainfo=dict(img_shape=(9, 9)))] * 3)


def test_cover_equals_floor_when_tiles_divide_the_map():
    for bn_stats in ('batch', 'sample'):
        kwargs = dict(num_patches=(4, 3), num_groups=4, num_anchors=(2, 3), bn_stats=bn_stats)
        cover, floor = _build(tiling='cover', **kwargs), _build(tiling='floor', **kwargs)
        floor.load_state_dict(cover.state_dict())
        student, teacher = _inputs(height=12, width=9)
        a, b = cover(student, teacher), floor(student, teacher)
        assert torch.equal(a, b)


def test_border_counts_with_cover_tiling_only():
    """Changing only the pixels that floor tiling drops changes the default (cover) loss and not
    the reference (floor) loss. In eval mode, since training-mode BatchNorm statistics include the
    border in both (as in the reference)."""
    student, teacher = _inputs()
    border = torch.zeros(13, 11, dtype=torch.bool)
    border[12:] = border[:, 9:] = True  # 4×3 tiles of 3×3 drop row 12 and columns 9-10
    student2 = student.detach() + 5 * torch.randn_like(student) * border
    teacher2 = teacher + 5 * torch.randn_like(teacher) * border
    kwargs = dict(num_patches=(4, 3), num_groups=4, num_anchors=(4, 3))
    cover, floor = _build(**kwargs).eval(), _build(reference=True, **kwargs).eval()
    assert torch.equal(floor(student, teacher), floor(student2, teacher2))
    assert not torch.allclose(cover(student, teacher), cover(student2, teacher2))


def test_plain_matches_naive_one_to_all_with_heads():
    loss = _build(mode='plain', num_groups=2, bn_stats='sample')
    student, teacher = _inputs(height=7, width=6)
    value = loss(student, teacher)
    expected = 0
    for s, t in zip(student, teacher):
        q, k, v = (_naive_embed(x, m[0].weight, m[1].weight, m[1].bias)[0]
                   for x, m in ((s, loss.query), (t, loss.key), (s, loss.value)))
        expected = expected + _naive_one_to_all(q, k, v, t, 2) / student.shape[0]
    _close(value, expected)
    for got, want in zip(_grads(value, [student] + _params(loss)),
                         _grads(expected, [student] + _params(loss))):
        _close(got, want)


@pytest.mark.parametrize('bn_stats', ['batch', 'sample'])
def test_plain_equals_hierarchical_with_one_patch_one_group_no_anchors(bn_stats):
    plain = _build(mode='plain', bn_stats=bn_stats)
    hier = _build(num_patches=(1, 1), num_groups=1, num_anchors=(2, 2), anchor_weight=0.0,
                  bn_stats=bn_stats)
    hier.load_state_dict(plain.state_dict())
    student, teacher = _inputs(height=7, width=6)
    a, b = plain(student, teacher), hier(student, teacher)
    _close(a, b, 1e-12)
    for got, want in zip(_grads(a, [student] + _params(plain)),
                         _grads(b, [student] + _params(hier))):
        _close(got, want, 1e-10)


@pytest.mark.parametrize('shape,kwargs,patch,anchor', [
    ((1, 1), dict(num_patches=(4, 4), num_anchors=(2, 2)), ((1, 1), 1), (1, 1)),
    ((6, 5), dict(num_patches=(1, 1), num_anchors=(1, 1)), ((6, 5), 1), (6, 5)),  # tile == map
    ((6, 5), dict(patch_size=(6, 5), anchor_size=(6, 5)), ((6, 5), 1), (6, 5)),
    ((6, 5), dict(patch_size=(8, 8), anchor_size=(9, 9)), ((8, 8), 1), (9, 9)),  # tile > map
    ((6, 5), dict(num_patches=(6, 5), num_groups=6, num_anchors=(6, 5)), ((1, 1), 5), (1, 1)),
])
def test_degenerate_sizes(shape, kwargs, patch, anchor):
    loss = _build(**kwargs)
    student, teacher = _inputs(batch=2, height=shape[0], width=shape[1])
    value = loss(student, teacher)
    assert torch.isfinite(value)
    _close(value, naive_kdseg(student, teacher, loss, patch=patch, anchor=anchor))


def test_degenerate_sizes_in_reference_mode():
    loss = _build(num_patches=(4, 4), num_anchors=(2, 2), reference=True)
    student, teacher = _inputs(batch=2, height=1, width=1)
    with pytest.raises(ValueError, match='single value per channel'):
        loss(student, teacher)
    with pytest.raises(ValueError, match=r'num_patches=\(4, 4\) does not fit'):
        loss(*_inputs(batch=2, height=3, width=9))
    loss = _build(num_patches=(1, 1), num_anchors=(1, 1), reference=True)  # tiles == map
    student, teacher = _inputs(height=5, width=4)
    expected, _ = naive_tat_seg(student, teacher, loss, 1, 1, 1, 1, 1)
    _close(loss(student, teacher), expected)


def test_gradient_flow():
    loss = _build(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2))
    student, teacher = _inputs()
    teacher.requires_grad_()
    loss(student, teacher).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0
    for name, p in loss.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0 or name == 'key.1.bias', name


def test_float32_agrees_with_float64():
    loss64 = _build(num_patches=(4, 3), num_groups=4, num_anchors=(3, 2))
    loss32 = TaTLoss(6, 8, num_patches=(4, 3), num_groups=4, num_anchors=(3, 2))
    loss32.load_state_dict(loss64.state_dict())
    student, teacher = _inputs()
    s32 = student.detach().float().requires_grad_()
    v64, v32 = loss64(student, teacher), loss32(s32, teacher.float())
    _close(v32.double(), v64, 1e-5, 0)
    _close(_grads(v32, s32)[0].double(), _grads(v64, student)[0], 1e-4, 0)


def test_batch_mode_running_stats_match_batchnorm():
    loss = _build(num_patches=(4, 3), num_anchors=(3, 2))
    student, teacher = _inputs()
    reference = _build(num_patches=(4, 3), num_anchors=(3, 2))
    reference.load_state_dict(loss.state_dict())
    loss(student, teacher)
    reference.query(student)
    reference.key(teacher)
    for name in ('query', 'key'):
        for buffer in ('running_mean', 'running_var', 'num_batches_tracked'):
            _close(getattr(getattr(loss, name)[1], buffer).double(),
                   getattr(getattr(reference, name)[1], buffer).double(), 1e-12)


def test_resize_student():
    loss = _build(num_patches=(2, 2), num_anchors=(2, 2), resize_student=True)
    student, teacher = _inputs(height=13, width=11)
    small = torch.nn.functional.interpolate(student.detach(), size=(7, 6), mode='bilinear',
                                            align_corners=False)
    resized = torch.nn.functional.interpolate(small, size=(13, 11), mode='bilinear',
                                              align_corners=False)
    _close(loss(small, teacher), loss(resized, teacher))


def test_backward_twice_raises():
    loss = _build(num_patches=(4, 3), num_anchors=(3, 2))
    value = loss(*_inputs())
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


def test_input_errors():
    loss = _build(num_patches=(2, 2), num_anchors=(2, 2))
    student, teacher = _inputs()
    with pytest.raises(ValueError, match='student_channels=6, but the student feature has 5'):
        loss(student[:, :5], teacher)
    with pytest.raises(ValueError, match='teacher_channels=8, but the teacher feature has 7'):
        loss(student, teacher[:, :7])
    with pytest.raises(ValueError, match='differ in H×W; set resize_student=True'):
        loss(student[..., :12, :], teacher)
    with pytest.raises(ValueError, match=r'valid_mask must be \(B, H, W\)'):
        loss(student, teacher, valid_mask=torch.ones(3, 12, 11, dtype=torch.bool))


def test_registry_builds_tat_loss():
    # _scope_: earlier tests may leave another default scope (mmdet, mmseg) active
    loss = MODELS.build(dict(type='TaTLoss', _scope_='mmrazor', student_channels=6,
                             teacher_channels=8, num_patches=(4, 3), num_groups=4,
                             num_anchors=(3, 2), loss_weight=0.1, anchor_weight=0.4,
                             reference=True))
    assert isinstance(loss, TaTLoss)
    assert 'num_groups=4' in repr(loss) and "bn_stats='sample'" in repr(loss)
    student, teacher = _inputs(dtype=torch.float32)
    assert torch.isfinite(loss(student, teacher))
