"""DDP parity: two CPU processes (torchrun, gloo, ``tools/train.py --launcher pytorch`` through
tools/dist_train.sh) train exactly as one process does on the same global batch, for a TaT and a
KR (review) distillation of the demo PSPNet pair (random-init teacher, ITERS optimizer steps).

What is compared (:func:`_compare`), the DDP run against the one-process run:
- the first step's gradient: SGD's momentum buffer after step 1 is that step's gradient (torch
  starts it as a copy), i.e. the ranks' averaged gradient against the one process's; per tensor,
  to GRAD_RTOL x its largest element + GRAD_ATOL;
- the weights after every step (every parameter in rank 0's checkpoint: student, distillation
  modules, frozen teacher), to WEIGHT_ATOL; and that the student and the distillation modules do
  move between the first and last step by more than 10 x WEIGHT_ATOL (measured 50-1000 x), the
  teacher not at all;
- every logged loss of every iteration (total, decode, aux, distillation), to LOSS_ATOL: mmengine
  logs each rank's own, unreduced losses, so the per-rank logs (``log_level='DEBUG'`` makes rank 1
  write one; ``log_processor.num_digits=8`` keeps the digits) are read and combined.

Making one process equivalent to two:
- The samples. The train sampler is mmengine's InfiniteSampler (mmseg's Cityscapes base; seed set
  explicitly to 0): one shuffled index stream, which rank r reads at positions r, r + 2, r + 4, ...
  (``islice(indices, rank, None, world_size)``). With b images per rank, step k's global batch is
  positions 2bk .. 2bk + 2b - 1, exactly what one process with batch 2b reads at step k (the same
  images; within the batch in another order, which only changes float reduction order: every loss
  here is a mean over equally sized images, so the mean of the ranks' losses is the global one).
- The augmentations. Random transforms draw from each process's own RNG state, which two
  processes cannot share with one, so the train pipeline is deterministic: the demo's
  RandomResize/RandomCrop/RandomFlip/PhotoMetricDistortion become one fixed Resize to the
  64x128 crop size (the demo's input size and cost). Dropout is 0 in the student's and the
  teacher's heads; num_workers is 0.
- BatchNorm. torch.nn.SyncBatchNorm raises on CPU tensors in torch 2.13 ("SyncBatchNorm expected
  input tensor to be on GPU ..."), and mmcv's MMSyncBN asserts CUDA tensors, so per-process
  statistics over b images cannot equal statistics over 2b. The student's BN becomes GroupNorm
  (8 groups: per-image statistics) in a test-only config; the teacher's BN runs in eval mode
  (mmrazor's teacher_norm_eval) and stays. The distillation losses hold batch-statistic BNs of
  their own:
  * TaT's embedding BNs (kdseg TaTLoss, ``bn_stats='batch'`` by default) have a per-image option,
    ``bn_stats='sample'`` (TaT-seg's reference statistics): the global-batch test uses it,
    2 processes x 2 images against 1 process x 4 (the rank interleaving above is exercised);
  * KR's ABF BNs (``nn.BatchNorm2d`` statistics over the batch, as in the authors' code) have no
    such option. Under DDP they normalise over each process's images, so KR on 2 processes is NOT
    KR on one process with the global batch: with 2 x 1 image against 1 x 2 images the task
    losses agree at iteration 1 and the KR loss differs by ~0.05 (measured 0.047; TaT with
    ``bn_stats='batch'``: 0.022), the weights by 6e-5 after one step. The KR test asserts this
    difference too. (ABFFunction calls ``torch.native_batch_norm`` on the modules' tensors, so
    not even mmengine's ``sync_bn`` conversion on GPU would synchronise them.)
  What DDP equals for any per-process BN is one process that accumulates the per-process batches'
  gradients: ``optim_wrapper.accumulative_counts=2``, b = 1, 2 x ITERS iterations, iteration
  2k - 1 reading rank 0's image of step k and 2k rank 1's (the index stream above). The second
  test checks that, for KR and for TaT with its default batch statistics; it compares each rank's
  losses with its own iteration's, not a mean. Measured: bit-identical (DDP scales each rank's
  gradient by 1/2 before the sum, mmengine each accumulated loss by 1/2: both exact in float).
- The step. DDP averages the ranks' gradients before the optimizer step; one process gets the
  gradient of the mean loss over the global batch. Both start from the same weights (same seed
  and build order; DDP also broadcasts rank 0's). Buffers (BN running statistics: the teacher's
  are frozen, the losses' are updated per process and never broadcast, ``broadcast_buffers=False``)
  are used in eval mode only and are not compared.
- The optimizer: SGD (momentum 0.9) at a constant LR = 1e-3, not the demo's AdamW with warm-up.
  AdamW's step lr·m/(√v + eps) is a normalised sign for gradients far above eps and grows by
  lr/eps = 6e5 per unit of gradient below it: measured on the global-batch TaT run, step-1
  gradients agreed to 2.7e-6 (largest 0.98) but weights by only 2.4e-4, in the TaT key
  embedding, whose near-zero gradient elements differed by up to 18% (rounding noise that AdamW
  turns into steps). And the training is chaotic at larger steps:
  at SGD lr 1e-2 two one-process runs differing only in OMP_NUM_THREADS (1 vs 2) drift apart to
  3e-3 in weights within 4 steps. Schedulers step per iteration, so the LR is constant for the
  accumulating run's sake.

Tolerances: the runs compute the same float32 quantities in another reduction order (convolutions
over 2b vs b images, the all-reduce, the loss means). The reference for "rounding only" is two
one-process global-batch TaT runs with OMP_NUM_THREADS 1 and 2 (seed 0, LR 1e-3): step-1
gradient 4.4e-5 (4.5e-5 of the largest), weights 1.4e-6 after 4 steps, losses 1.05e-5.
GRAD_RTOL/ATOL, WEIGHT_ATOL and LOSS_ATOL are ~10x (gradient ~20x) above that floor; the
measured DDP differences (global batch: gradient 2.7e-6, weights 1.5e-7, losses 1.1e-6;
accumulation: 0) are below it. A real parity fault is far larger: a wrong sample set or
augmentation changes a loss by ~0.1, per-process BN statistics by 0.02-0.05, an unaveraged
(summed) gradient moves the weights by ~lr x |g| ~ 1e-3 per step.

Runtime: 7 short training runs, 3 of them on 2 processes.
"""
import glob
import os.path as osp
import re
import sys
from typing import Dict, List

import pytest
import torch

from .conftest import CONFIGS, ROOT

pytestmark = pytest.mark.e2e

TEACHER = 'demo_models/pspnet_r50-narrow_synthcity.py'
TAT = 'tat/demo/tat_pspnet_r50-narrow_r18-narrow_synthcity.py'
REVIEW = 'review/demo/review_pspnet_r50-narrow_r18-narrow_synthcity.py'
ITERS = 4  # optimizer steps
LR = 1e-3
WEIGHT_ATOL = 1e-5
LOSS_ATOL = 1e-4
GRAD_RTOL, GRAD_ATOL = 1e-3, 1e-6
# buffers, used in eval mode only; DDP neither averages them nor (broadcast_buffers=False)
# broadcasts them
BUFFERS = ('running_mean', 'running_var', 'num_batches_tracked')

OVERRIDE = '''
_base_ = [{base!r}]
gn = dict(type='GN', num_groups=8, requires_grad=True)
model = dict(
    teacher_ckpt={teacher!r},
    architecture=dict(
        backbone=dict(norm_cfg=gn),
        decode_head=dict(norm_cfg=gn, dropout_ratio=0.0),
        auxiliary_head=dict(norm_cfg=gn, dropout_ratio=0.0)),
    teacher=dict(decode_head=dict(dropout_ratio=0.0), auxiliary_head=dict(dropout_ratio=0.0)),
    distiller=dict(distill_losses={losses}))
train_dataloader = dict(
    batch_size={batch},
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True, seed=0),
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='Resize', scale=(128, 64), keep_ratio=True),  # 128x256 -> the 64x128 crop
        dict(type='PackSegInputs'),
    ]))
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='SGD', lr={lr}, momentum=0.9),
    accumulative_counts={accumulate})
param_scheduler = []  # constant LR
train_cfg = dict(max_iters={iters}, val_interval=10**6)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
log_processor = dict(window_size=1, num_digits=8)
log_level = 'DEBUG'  # every rank writes its log
val_cfg = val_dataloader = val_evaluator = None  # no validation
'''


def _config(tmp_path, name: str, distill: str, teacher: str, batch: int, accumulate: int = 1,
            losses: str = '{}') -> str:
    path = tmp_path / f'{name}.py'
    path.write_text(OVERRIDE.format(
        base=osp.join(CONFIGS, distill), teacher=teacher, batch=batch, accumulate=accumulate,
        iters=ITERS * accumulate, losses=losses, lr=LR))
    return str(path)


def _train(tools, config: str, work_dir: str) -> None:
    tools.run([sys.executable, osp.join(ROOT, 'tools', 'train.py'), config,
               '--work-dir', work_dir], env={'OMP_NUM_THREADS': '1'})


def _train_ddp(tools, config: str, work_dir: str, port: int) -> None:
    tools.run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), config, '2',
               '--work-dir', work_dir],
              env={'PORT': str(port), 'OMP_NUM_THREADS': '1', 'PYTHON': sys.executable})


def _losses(tools, work_dir: str, rank: int = 0) -> List[Dict[str, float]]:
    """Per iteration, every logged value whose key contains ``loss``, of ``rank``'s log."""
    logs = sorted(glob.glob(osp.join(tools.cwd, work_dir, '*', '*.log')))
    if len(logs) > 1:  # a distributed run: one log per rank
        logs = [p for p in logs if p.endswith(f'rank{rank}.log')]
    assert len(logs) == 1, logs
    with open(logs[0]) as f:
        text = f.read()
    curve = []
    for line in text.splitlines():
        if 'Iter(train)' in line:
            curve.append({k: float(v) for k, v in re.findall(r'(\S*loss\S*): (\S+)', line)})
            assert curve[-1], line
    return curve


def _checkpoint(tools, work_dir: str, it: int):
    """(parameters by name, SGD momentum buffers by parameter index) after iteration ``it``."""
    path = osp.join(tools.cwd, work_dir, f'iter_{it}.pth')
    ckpt = torch.load(path, map_location='cpu', weights_only=False)  # this test's own file
    weights = {k: v.float() for k, v in ckpt['state_dict'].items() if not k.endswith(BUFFERS)}
    momenta = {i: s['momentum_buffer'] for i, s in ckpt['optimizer']['state'].items()}
    return weights, momenta


def _weights(tools, work_dir: str, it: int) -> Dict[str, torch.Tensor]:
    return _checkpoint(tools, work_dir, it)[0]


def _compare(tools, one: str, ddp: str, one_iter, ddp_losses) -> Dict[str, float]:
    """``ddp`` after step k against ``one`` after its iteration ``one_iter(k)``: the first step's
    gradient, every step's weights, every iteration's losses. Returns the measured maxima."""
    measured = {'gradient': 0.0, 'weight': 0.0, 'loss': 0.0}
    # SGD's momentum buffer after the first step is that step's gradient (torch starts it as a
    # copy): the averaged gradient of the two ranks against the one process's
    grads_ddp, grads_one = _checkpoint(tools, ddp, 1)[1], _checkpoint(tools, one, one_iter(1))[1]
    assert grads_ddp.keys() == grads_one.keys() and grads_one
    for i, g in grads_one.items():
        diff = (grads_ddp[i] - g).abs().max().item()
        measured['gradient'] = max(measured['gradient'], diff)
        assert diff <= GRAD_RTOL * g.abs().max().item() + GRAD_ATOL, (i, diff)
    for k in range(1, ITERS + 1):
        w_ddp, w_one = _weights(tools, ddp, k), _weights(tools, one, one_iter(k))
        assert w_ddp.keys() == w_one.keys()
        for key, w in w_one.items():
            diff = (w_ddp[key] - w).abs().max().item()
            measured['weight'] = max(measured['weight'], diff)
            assert diff <= WEIGHT_ATOL, f'step {k}: {key} differs by {diff:.3g}'
    # not vacuous: the student and the distillation modules move by far more than WEIGHT_ATOL
    first, last = _weights(tools, one, one_iter(1)), _weights(tools, one, one_iter(ITERS))
    moved = {k: (last[k] - first[k]).abs().max().item() for k in last}
    for part in ('architecture.', 'distiller.'):
        measured[f'{part}moved'] = max(v for k, v in moved.items() if k.startswith(part))
        assert measured[f'{part}moved'] > 10 * WEIGHT_ATOL, (part, moved)
    assert all(v == 0 for k, v in moved.items() if k.startswith('teacher.'))
    expected, got = _losses(tools, one), ddp_losses
    assert len(got) == len(expected) in (ITERS, 2 * ITERS), (got, expected)
    for k, (e, g) in enumerate(zip(expected, got), 1):
        assert e.keys() == g.keys() and any(key.startswith('distill.') for key in e), (e, g)
        for key in e:
            measured['loss'] = max(measured['loss'], abs(e[key] - g[key]))
            assert abs(g[key] - e[key]) <= LOSS_ATOL, (k, key, e, g)
    print(f'\nmeasured {one} vs {ddp}: {measured}')
    return measured


@pytest.fixture(scope='module')
def teacher(tools) -> str:
    return tools.random_init(TEACHER)


def _assert_two_processes(tools, work_dir: str) -> None:
    """The run had two ranks (mmengine reports the world size as "GPU number") and a log each."""
    for rank in (0, 1):
        logs = glob.glob(osp.join(tools.cwd, work_dir, '*', f'*rank{rank}.log'))
        assert len(logs) == 1, (rank, logs)
        with open(logs[0]) as f:
            log = f.read()
        assert 'Distributed launcher: pytorch' in log and 'GPU number: 2' in log, rank


def _mean_over_ranks(tools, work_dir: str) -> List[Dict[str, float]]:
    ranks = [_losses(tools, work_dir, r) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == ITERS
    return [{k: (a[k] + b[k]) / 2 for k in a} for a, b in zip(*ranks)]


def test_tat_two_processes_match_one_process_with_the_global_batch(tools, tmp_path, teacher):
    """TaT with per-image embedding statistics: 2 processes x 2 images == 1 process x 4 images."""
    sample = "dict(loss_tat=dict(bn_stats='sample'))"
    one = _config(tmp_path, 'tat_one', TAT, teacher, batch=4, losses=sample)
    two = _config(tmp_path, 'tat_two', TAT, teacher, batch=2, losses=sample)
    _train(tools, one, 'parity_tat_one')
    _train_ddp(tools, two, 'parity_tat_ddp', port=29743)
    _assert_two_processes(tools, 'parity_tat_ddp')
    _compare(tools, 'parity_tat_one', 'parity_tat_ddp', lambda k: k,
             _mean_over_ranks(tools, 'parity_tat_ddp'))


@pytest.mark.parametrize('distill', [REVIEW, TAT], ids=['review', 'tat'])
def test_two_processes_match_one_process_accumulating_their_batches(tools, tmp_path, teacher,
                                                                    distill):
    """The losses' batch-statistic BNs as configured: 2 processes x 1 image == 1 process
    accumulating two 1-image batches per step (and, for KR, != 1 process x 2 images)."""
    name = osp.basename(osp.dirname(osp.dirname(distill)))
    one = _config(tmp_path, f'{name}_acc', distill, teacher, batch=1, accumulate=2)
    two = _config(tmp_path, f'{name}_two', distill, teacher, batch=1)
    _train(tools, one, f'parity_{name}_acc')
    _train_ddp(tools, two, f'parity_{name}_ddp1', port=29744 if name == 'review' else 29745)
    _assert_two_processes(tools, f'parity_{name}_ddp1')
    ranks = [_losses(tools, f'parity_{name}_ddp1', r) for r in (0, 1)]
    interleaved = [ranks[k % 2][k // 2] for k in range(2 * ITERS)]  # rank 0 step 1, rank 1 ...
    _compare(tools, f'parity_{name}_acc', f'parity_{name}_ddp1', lambda k: 2 * k, interleaved)
    if distill == REVIEW:
        # ... and not one process with the global batch: the ABF BNs' statistics are per
        # process. At iteration 1 (same weights) the task losses agree, the KR loss does not.
        full = _config(tmp_path, 'review_full', REVIEW, teacher, batch=2)
        _train(tools, full, 'parity_review_full')
        expected = _losses(tools, 'parity_review_full')[0]
        got = _mean_over_ranks(tools, f'parity_{name}_ddp1')[0]
        for key in ('student.decode.loss_ce', 'student.aux.loss_ce'):
            assert abs(got[key] - expected[key]) <= LOSS_ATOL, (key, got, expected)
        assert abs(got['distill.loss_review'] - expected['distill.loss_review']) > 100 * LOSS_ATOL
