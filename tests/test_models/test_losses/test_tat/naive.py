"""Naive float64 statements of TaT (METHODS.md section 1) and helpers shared by the TaT tests.

An INDEPENDENT check, not the package's reference formulation: TaTLoss's readable formulation, the
one ``impl='reference'`` runs and the benchmark and the visualiser use, is
:mod:`kdseg.models.losses.tat.reference` (vectorised, on the loss's own modules). The statements
here are written separately, from METHODS.md and TaTLoss's docstring, and share no code with the
package, so that both code paths (fused and reference) are checked against them.

Deliberately naive: loops over samples, BatchNorm by hand, patches sliced one by one, softmax by
exp / sum. ``naive_tat_seg`` is the TaT-seg reference; ``naive_kdseg`` is TaTLoss's default
(batch statistics, cover tiling, padding masks), stated from its docstring.
"""
import math

import torch

from kdseg.models.losses.tat import TaTLoss

EPS = 1e-5  # BatchNorm2d default eps


# --------------------------------------------------------------------------------------------
# An independent, deliberately naive statement of METHODS.md 1.1-1.4 (the TaT-seg reference):
# a loop over samples, BatchNorm by hand per sample, patches sliced one by one, softmax by exp/sum.
def naive_embed(x, conv_weight, gamma, beta):
    """x (C_in, H, W) → BatchNorm(conv1x1(x)) with this sample's statistics; also (mean, var)."""
    z = torch.einsum('oc,chw->ohw', conv_weight[:, :, 0, 0], x)
    mean = z.mean(dim=(1, 2), keepdim=True)
    var = ((z - mean) ** 2).mean(dim=(1, 2), keepdim=True)
    y = (z - mean) / torch.sqrt(var + EPS) * gamma[:, None, None] + beta[:, None, None]
    return y, mean.flatten(), var.flatten()


def naive_one_to_all(q, k, v, t, heads):
    """MSE-mean of softmax(QKᵀ)V against t, inputs (C, h, w), heads over channel blocks."""
    channels = q.shape[0]
    if channels % heads:  # the reference's rearrange 'b (h d) x y -> b h (x y) d' fails
        raise ValueError(f'{channels} stacked channels do not split into {heads} heads')
    d = channels // heads  # a head may straddle patches: channel = patch·C + c
    # head h holds channels [h·d, (h+1)·d): (heads, positions, d), as the reference's rearrange
    qh, kh, vh = (x.reshape(heads, d, -1).transpose(1, 2) for x in (q, k, v))
    logits = qh @ kh.transpose(1, 2)
    e = torch.exp(logits - logits.max(dim=-1, keepdim=True).values)
    attn = e / e.sum(dim=-1, keepdim=True)
    out = (attn @ vh).transpose(1, 2).reshape(channels, *t.shape[1:])
    return ((out - t) ** 2).mean()


def naive_stack_patches(x, n, m):
    """(C, H, W) → (num_patches·C, ph, pw), floor tiling, channel = patch·C + c."""
    channels, height, width = x.shape
    ph, pw = height // n, width // m
    rows, cols = height // ph, width // pw  # the reference's unfold: whole patches only
    tiles = x[:, :rows * ph, :cols * pw].reshape(channels, rows, ph, cols, pw)
    return tiles.permute(1, 3, 0, 2, 4).reshape(rows * cols * channels, ph, pw)


def naive_pool(x, ah, aw):
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
        q, k, v = (naive_embed(s if src == 's' else t, mod[0].weight, mod[1].weight,
                               mod[1].bias) for mod, src in embeds)
        stats.append([q[1:], k[1:], v[1:]])
        q, k, v = q[0], k[0], v[0]
        patch = naive_one_to_all(*(naive_stack_patches(x, n, m) for x in (q, k, v, t)), groups)
        anchor = naive_one_to_all(*(naive_pool(x, ah, aw) for x in (q, k, v, t)), 1)
        losses.append(loss.patch_weight * patch + loss.anchor_weight * anchor)
    return loss.loss_weight * sum(losses) / len(losses), stats


def naive_tat_seg_eval(student, teacher, loss, n, m, groups, ah, aw):
    """The TaT-seg objective with the embeddings' running statistics (nn.BatchNorm2d in eval)."""
    q, k, v = loss.query(student), loss.key(teacher), loss.value(student)
    total = 0
    for b in range(student.shape[0]):
        patch = naive_one_to_all(*(naive_stack_patches(x[b], n, m)
                                   for x in (q, k, v, teacher)), groups)
        anchor = naive_one_to_all(*(naive_pool(x[b], ah, aw) for x in (q, k, v, teacher)), 1)
        total = total + loss.patch_weight * patch + loss.anchor_weight * anchor
    return loss.loss_weight * total / student.shape[0]


def randomise(loss, seed=0):
    """Non-trivial BatchNorm affine parameters (γ away from 1, β away from 0)."""
    gen = torch.Generator().manual_seed(seed)
    for module in (loss.query, loss.key, loss.value):
        module[1].weight.data = 0.5 + torch.rand(module[1].weight.shape, generator=gen,
                                                 dtype=module[1].weight.dtype)
        module[1].bias.data = torch.randn(module[1].bias.shape, generator=gen,
                                          dtype=module[1].bias.dtype)
    return loss


def params_of(loss):
    return [loss.query[0].weight, loss.key[0].weight, loss.value[0].weight,
            loss.query[1].weight, loss.query[1].bias, loss.key[1].weight, loss.key[1].bias,
            loss.value[1].weight, loss.value[1].bias]


def make_inputs(batch=3, cs=6, ct=8, height=13, width=11, seed=1, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    student = torch.randn(batch, cs, height, width, generator=gen, dtype=dtype)
    teacher = torch.randn(batch, ct, height, width, generator=gen, dtype=dtype) + 0.5
    return student.requires_grad_(), teacher


def grads_of(value, tensors):
    return torch.autograd.grad(value, tensors)


def close(actual, expected, rtol=1e-6, atol=1e-13):
    """Relative to the largest entry; ``atol`` only for exactly-zero quantities (the key's β gets
    no gradient: adding a constant to every key shifts each logit row by a constant)."""
    assert (actual - expected).abs().max() <= rtol * expected.abs().max() + atol, (
        actual, expected)


def build(dtype=torch.float64, **kwargs):
    cfg = dict(student_channels=6, teacher_channels=8)
    cfg.update(kwargs)
    return randomise(TaTLoss(**cfg).to(dtype))


def twin(loss, dtype):
    """The same loss (configuration, parameters, buffers, train / eval) in another dtype."""
    names = ('student_channels', 'teacher_channels', 'mode', 'num_patches', 'patch_size',
             'num_groups', 'num_anchors', 'anchor_size', 'patch_weight', 'anchor_weight',
             'loss_weight', 'reference', 'bn_stats', 'tiling', 'resize_student', 'impl')
    twin = TaTLoss(**{name: getattr(loss, name) for name in names}).to(dtype)
    twin.load_state_dict(loss.state_dict())
    return twin.train(loss.training)


# --------------------------------------------------------------------------------------------
# kdseg's generalisation (METHODS.md 1.5), stated naively from TaTLoss's docstring: batch
# BatchNorm statistics over the valid pixels, cover tiling with padded partial tiles, padding
# excluded from statistics, keys and MSE; anchors pool the EMBEDDED map (no commuting trick).
def naive_batch_embed(x, valid, module):
    z = torch.einsum('oc,bchw->bohw', module[0].weight[:, :, 0, 0], x)
    w = valid[:, None].to(z.dtype)
    count = w.sum()
    mean = (z * w).sum(dim=(0, 2, 3), keepdim=True) / count
    var = (((z - mean) * w) ** 2).sum(dim=(0, 2, 3), keepdim=True) / count
    y = (z - mean) / torch.sqrt(var + EPS) * module[1].weight[:, None, None] \
        + module[1].bias[:, None, None]
    return y * w


def naive_masked_attention(qs, ks, vs, ts, valids):
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
    q = naive_batch_embed(student, valid, loss.query)
    k = naive_batch_embed(teacher, valid, loss.key)
    v = naive_batch_embed(student, valid, loss.value)
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
                sse = sse + naive_masked_attention(*(torch.stack(s) for s in stacks),
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
            sse = naive_masked_attention(*(torch.stack(x, dim=1)[None] for x in pooled),
                                         anchor_valid[None])
            ell = ell + loss.anchor_weight * sse / (anchor_valid.sum() * t.shape[1])
        total = total + ell
    return loss.loss_weight * total / batch


def all_grads(value, student, loss):
    return grads_of(value, [student] + params_of(loss))


def plain_float64(student, teacher, loss):
    """Plain autograd in float64: the naive formulation matching ``loss``'s semantics."""
    if loss.reference and not loss.training:
        return naive_tat_seg_eval(student, teacher, loss, *loss.num_patches, loss.num_groups,
                                  *loss.num_anchors)
    if loss.reference:
        return naive_tat_seg(student, teacher, loss, *loss.num_patches, loss.num_groups,
                             *loss.num_anchors)[0]
    return naive_kdseg(student, teacher, loss, patch=((3, 3), 3), anchor=(4, 5))
