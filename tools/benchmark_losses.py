"""Benchmark kdseg's losses against straightforward formulations of the same maths.

TaT cases (METHODS.md 1.4 / 1.5): TaTLoss(impl='fused') (the kdseg row) against the package's
reference formulation (the naive row: kdseg.models.losses.tat.reference, plain torch and autograd,
the path impl='reference' runs, and impl='auto' off the CPU), the same module and parameters:
  a  TaT-seg VOC setting: 2×256×129×129 student and teacher, 16×16 patches, 64 groups, 32×32
     anchors, reference mode.
  b  PSPNet R18 → R101 C5 at 512×1024: student 2×512×64×128 → teacher 2×2048×64×128, the geometry
     of configs/tat/tat_c5_*: 8×16 patches (8×8 pixels) in 32 groups of 4, 16×32 anchors (4×4
     pixels); reference mode (TaT-seg's semantics). Also the floor: the three 1×1 embedding
     matmuls alone, forward + backward.
  c  FPN P2-P6 of a 2×3×800×1216 batch (strides 4-64), 256 channels, the settings of
     configs/_base_/distill/tat_fpn_p2-p6.py: default mode (hierarchical, batch statistics, cover
     tiling), patch_size 8×8 at every level, anchor windows of 32 image pixels (anchor_size 8, 4,
     2, 1, 1); the second image is 800×1067, so its padded border is masked.
  d  mode='plain' (one-to-all over the whole map, one head), the channels of case b on half its
     map: 2×512×32×64 → 2×2048×32×64 (N = 2048 positions), reference mode (per-sample
     BatchNorm).
  e  as d at case b's full map, 2×512×64×128 → 2×2048×64×128 (N = 8192): about a minute per
     step on 2 cores, so not in the default set.
CWT and KR cases (METHODS.md 2 / 3):
  cwt  PSPNet C5: ChannelMLPConnector (hidden = C_t) + mmrazor's L2Loss(normalize=False), student
       2×512×64×128 → teacher 2×2048×64×128, against the plain formulation (conv, ReLU, conv,
       ((out − T)²).sum() / B); floor: the two 1×1 conv matmuls, forward + backward.
  review  ReviewKDLoss(impl='fused') on FPN P2-P6 of a 2×3×800×1216 batch (256 channels, mid
       256, strides 4-64), against the authors' formulation (conv + BatchNorm, interpolate,
       concatenation, gate conv + sigmoid, ``F.mse_loss`` and ``F.adaptive_avg_pool2d`` per pooled
       size: the package's reference formulation, kdseg.models.losses.review.reference, the path
       impl='reference' runs, and impl='auto' off the CPU); floor: the 1×1, gate and 3×3 conv
       matmuls of every level, forward + backward. The note also gives the float32 loss against
       the same loss in float64.
Self-teacher case (METHODS.md 4):
  selfteacher  FRSKD's BiFPNSelfTeacher (in_channels 64, 128, 256, 512, width 2, depth 2) on
       the stages of a PSPNet R18-D8 for a 2×3×512×1024 crop: 2×64×128×256 (stride 4) and
       2×128×64×128, 2×256×64×128, 2×512×64×128 (stride 8: a dilated ResNet's stages 2-4 share a
       size); forward (training mode) and backward of the sum of the outputs' means, gradients
       into the features and the parameters. No naive row: the module is already the plain
       formulation (PyTorch's conv, BatchNorm and ReLU modules in the reference's order), and the
       tests' independent formulation (einsums, nine shifted maps) is a check, not a rival. Floor:
       every convolution of the module (the 1×1 convs and the depthwise 3×3 convs) at the input
       shape it sees, forward + backward. The note gives the self-teacher's parameter count.

Time: median over --reps forward+backward steps after one warm-up step, kdseg and naive steps
interleaved so that machine load affects both alike. Peak extra memory: during one step, the
maximum of the running sum of bytes allocated minus bytes freed, from torch.profiler's allocation
events (``profile_memory=True``); tensors that exist before the step (inputs, parameters) are not
counted, gradients created by the step are.

The header line records the host (CPU model, logical CPUs) and the load average at the start;
each case's rows end with the load average after it.

Usage: python tools/benchmark_losses.py [--cases a,b,c,d,cwt,review,selfteacher] [--reps 3]
    [--threads 2] [--device cpu|cuda]
The losses are imported from this checkout the torch-only way; only case cwt needs mmrazor (its
L2Loss is the CWT loss kdseg's configs use).
"""
import argparse
import copy
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch._C._profiler import _EventType
from torch.profiler import ProfilerActivity, profile

# the checkout's kdseg, imported the torch-only way: no mmcv / mmengine / mmrazor needed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kdseg.models.connectors import ChannelMLPConnector  # noqa: E402
from kdseg.models.losses.review import ReviewKDLoss  # noqa: E402
from kdseg.models.losses.review.reference import review_kd as naive_review  # noqa: E402
from kdseg.models.losses.tat import TaTLoss  # noqa: E402
from kdseg.models.self_teachers import BiFPNSelfTeacher  # noqa: E402

Step = Callable[[], Tensor]


# --------------------------------------------------------------------------------------------
def tat_reference(loss: TaTLoss, *args, **kwargs) -> Tensor:
    """``loss(*args, **kwargs)`` by the package's reference formulation (``impl='reference'``):
    the same module, parameters and BatchNorm buffers as the fused row."""
    fused, loss.impl = loss.impl, 'reference'
    try:
        return loss(*args, **kwargs)
    finally:
        loss.impl = fused


def naive_cwt(connector: ChannelMLPConnector, student: Tensor, teacher: Tensor) -> Tensor:
    """CWT written plainly with the connector's parameters: conv, ReLU (a new map), conv, then
    the squared error summed and divided by the batch size."""
    hidden = F.relu(F.conv2d(student, connector.w1.weight, connector.w1.bias))
    out = F.conv2d(hidden, connector.w2.weight, connector.w2.bias)
    return ((out - teacher) ** 2).sum() / student.shape[0]


def conv_floor(convs: Sequence[Tuple[Tensor, Tensor, int]]) -> Step:
    """Forward + backward of ``F.conv2d(x, w, padding=p)`` for each (x, w, p), with a random
    upstream gradient: the matmul work of the formulation, and nothing else. Grouped (depthwise)
    weights work too: the groups are x's channels over w's input channels."""
    upstream = [torch.randn(x.shape[0], w.shape[0], *x.shape[2:]) for x, w, _ in convs]

    def step() -> Tensor:
        outs = [F.conv2d(x, w, padding=p, groups=x.shape[1] // w.shape[1]) for x, w, p in convs]
        torch.autograd.backward(outs, upstream)
        return outs[0].detach()[0, 0, 0, 0]
    return step


# --------------------------------------------------------------------------------------------
def host() -> str:
    """CPU model and logical CPUs of this machine."""
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        model = names[0] if names else model
    except OSError:
        pass
    return f'{model}, {os.cpu_count()} logical CPUs'


def load() -> str:
    try:
        return '/'.join(f'{x:.2f}' for x in os.getloadavg())
    except OSError:
        return 'n/a'


def peak_extra_bytes(step: Step) -> Tuple[int, Tensor]:
    """Peak of (bytes allocated − bytes freed) during one call of ``step``, and its value; on a
    CUDA default device, the allocator's peak above what was allocated before the call."""
    if torch.get_default_device().type == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        value = step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before, value
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        value = step()
    events = []

    def walk(nodes) -> None:
        for node in nodes:
            if node.tag == _EventType.Allocation:
                events.append((node.start_time_ns, node.extra_fields.alloc_size))
            walk(node.children)

    walk(prof.profiler.kineto_results.experimental_event_tree())
    live = peak = 0
    for _, size in sorted(events):
        live += size
        peak = max(peak, live)
    return peak, value


def _zero_grads(tensors: Sequence[Tensor]) -> None:
    for t in tensors:
        t.grad = None


def time_steps(steps: Dict[str, Step], grads: Sequence[Tensor], reps: int) -> Dict[str, float]:
    """Median seconds per step, steps interleaved, after one warm-up call each."""
    times: Dict[str, List[float]] = {name: [] for name in steps}
    for rep in range(reps + 1):
        for name, step in steps.items():
            _zero_grads(grads)
            start = time.perf_counter()
            step()
            if torch.get_default_device().type == 'cuda':
                torch.cuda.synchronize()
            if rep:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def fwd_bwd(fn: Callable[[], Tensor]) -> Step:
    def step() -> Tensor:
        value = fn()
        value.backward()
        return value.detach()
    return step


def build_case(case: str):
    """(module, kdseg step, naive step or None, grad tensors, extra steps, note) for one case."""
    torch.manual_seed(0)
    if case in ('a', 'b'):
        if case == 'a':
            (cs, ct, h, w), cfg = (256, 256, 129, 129), dict(
                num_patches=(16, 16), num_groups=64, num_anchors=(32, 32))
        else:
            (cs, ct, h, w), cfg = (512, 2048, 64, 128), dict(
                num_patches=(8, 16), num_groups=32, num_anchors=(16, 32))
        loss = TaTLoss(cs, ct, reference=True, loss_weight=0.1, anchor_weight=0.4, impl='fused',
                       **cfg)
        student = torch.randn(2, cs, h, w, requires_grad=True)
        teacher = torch.randn(2, ct, h, w)
        params = [student, *loss.parameters()]
        extra = {}
        if case == 'b':
            weights = [loss.query[0].weight, loss.key[0].weight, loss.value[0].weight]
            upstream = [torch.randn(2, ct, h * w) for _ in range(3)]

            def floor() -> Tensor:
                s, t = student.flatten(2), teacher.flatten(2)
                outs = [weights[0].flatten(1) @ s, weights[1].flatten(1) @ t,
                        weights[2].flatten(1) @ s]
                torch.autograd.backward(outs, upstream)
                return outs[0].detach()[0, 0, 0]

            extra['embedding matmuls (floor)'] = floor
        return (loss, fwd_bwd(lambda: loss(student, teacher)),
                fwd_bwd(lambda: tat_reference(loss, student, teacher)), params, extra, '')

    if case in ('d', 'e'):
        cs, ct, h, w = 512, 2048, *((32, 64) if case == 'd' else (64, 128))
        loss = TaTLoss(cs, ct, mode='plain', reference=True, impl='fused')
        student = torch.randn(2, cs, h, w, requires_grad=True)
        teacher = torch.randn(2, ct, h, w)
        return (loss, fwd_bwd(lambda: loss(student, teacher)),
                fwd_bwd(lambda: tat_reference(loss, student, teacher)),
                [student, *loss.parameters()],
                {}, '')

    if case == 'cwt':
        from mmrazor.models.losses import L2Loss
        cs, ct, h, w = 512, 2048, 64, 128
        connector, l2 = ChannelMLPConnector(cs, ct), L2Loss(normalize=False)
        student = torch.randn(2, cs, h, w, requires_grad=True)
        teacher = torch.randn(2, ct, h, w)
        hidden = torch.randn(2, ct, h, w, requires_grad=True)
        weights = [connector.w1.weight, connector.w2.weight]
        return (connector, fwd_bwd(lambda: l2(connector(student), teacher)),
                fwd_bwd(lambda: naive_cwt(connector, student, teacher)),
                [student, hidden, *connector.parameters()],
                {'conv matmuls (floor)': conv_floor([(student, weights[0], 0),
                                                     (hidden, weights[1], 0)])}, '')

    if case == 'review':
        shapes = [(math.ceil(800 / s), math.ceil(1216 / s)) for s in (4, 8, 16, 32, 64)]
        loss = ReviewKDLoss([256] * 5, [256] * 5, mid_channels=256, impl='fused')
        student = [torch.randn(2, 256, *s, requires_grad=True) for s in shapes]
        teacher = [torch.randn(2, 256, *s) for s in shapes]
        convs = []  # per level: the 1×1 conv of the student feature, the 3×3 and the gate conv
        for abf, x in zip(loss.abfs, student):
            mid = torch.randn(2, 256, *x.shape[2:], requires_grad=True)
            convs += [(x, abf.conv1.weight, 0), (mid, abf.conv2.weight, 1)]
            if abf.gate is not None:
                cat = torch.randn(2, 512, *x.shape[2:], requires_grad=True)
                convs.append((cat, abf.gate.weight, 0))
        loss64 = copy.deepcopy(loss).double()
        with torch.no_grad():  # the same BatchNorm state for both
            v32 = copy.deepcopy(loss)(student, teacher).double()
            v64 = loss64([x.double() for x in student], [t.double() for t in teacher])
        note = f'float32 vs float64 {abs(v32 - v64).item() / abs(v64).item():.1e} relative'
        del loss64
        return (loss, fwd_bwd(lambda: loss(student, teacher)),
                fwd_bwd(lambda: naive_review(loss, student, teacher)),
                [x for x, _, _ in convs] + list(loss.parameters()),
                {'conv matmuls (floor)': conv_floor(convs)}, note)

    if case == 'selfteacher':
        teacher = BiFPNSelfTeacher((64, 128, 256, 512), width=2, depth=2)
        features = [torch.randn(2, c, *s, requires_grad=True) for c, s in
                    zip(teacher.in_channels, [(128, 256)] + [(64, 128)] * 3)]
        convs = []  # every conv of the module with the input shape it sees, from one forward
        hooks = [m.register_forward_pre_hook(
            lambda m, args: convs.append((torch.randn(args[0].shape, requires_grad=True),
                                          m.weight, m.padding[0])))
            for m in teacher.modules() if isinstance(m, torch.nn.Conv2d)]
        with torch.no_grad():
            teacher(features)
        for hook in hooks:
            hook.remove()
        note = f'{sum(p.numel() for p in teacher.parameters()) / 1e6:.2f} M parameters'
        return (teacher, fwd_bwd(lambda: sum(out.mean() for out in teacher(features))), None,
                features + [x for x, _, _ in convs] + list(teacher.parameters()),
                {'convolutions (floor)': conv_floor(convs)}, note)

    # case c: one TaTLoss per FPN level
    batch_shape, image_w = (800, 1216), 1067
    levels = []
    for stride in (4, 8, 16, 32, 64):
        h, w = math.ceil(batch_shape[0] / stride), math.ceil(batch_shape[1] / stride)
        loss = TaTLoss(256, 256, patch_size=(8, 8), anchor_size=(max(1, 32 // stride),) * 2,
                       anchor_weight=0.4, loss_weight=0.2, impl='fused')
        valid = torch.ones(2, h, w, dtype=torch.bool)
        valid[1, :, math.ceil(image_w / stride):] = False
        levels.append((loss, torch.randn(2, 256, h, w, requires_grad=True),
                       torch.randn(2, 256, h, w), valid))
    params = [t for loss, s, _, _ in levels for t in (s, *loss.parameters())]
    return (levels, fwd_bwd(lambda: sum(l(s, t, valid_mask=m) for l, s, t, m in levels)),
            fwd_bwd(lambda: sum(tat_reference(l, s, t, valid_mask=m) for l, s, t, m in levels)),
            params, {}, '')


def run_case(case: str, reps: int) -> List[Tuple[str, float, float, str]]:
    _, kdseg_step, naive_step, grads, extra, note = build_case(case)
    steps = {'kdseg': kdseg_step, **({'naive': naive_step} if naive_step else {}), **extra}
    times = time_steps(steps, grads, reps)
    rows, values = [], {}
    for name, step in steps.items():
        _zero_grads(grads)
        peak, values[name] = peak_extra_bytes(step)
        rows.append((name, times[name], peak / 2**20, ''))
    _zero_grads(grads)
    ours = values['kdseg']
    check = f'loss {ours.item():.5g}'
    if 'naive' in values:
        check += f', |Δ| vs naive {(ours - values["naive"]).abs().item():.1e}'
    rows[0] = rows[0][:3] + ('; '.join(filter(None, [check, note])),)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cases', default='a,b,c,d,cwt,review,selfteacher',
                        help='comma-separated subset of a,b,c,d,e,cwt,review,selfteacher')
    parser.add_argument('--reps', type=int, default=3, help='timed steps per variant')
    parser.add_argument('--threads', type=int, default=2, help='torch.set_num_threads')
    parser.add_argument('--device', default='cpu',
                        help='where the tensors live, e.g. cuda (memory: the CUDA allocator peak)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_default_device(args.device)
    where = host()
    if torch.get_default_device().type == 'cuda':
        where += f'; device {torch.cuda.get_device_name()}'
    print(f'host {where}; torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'median of {args.reps}; load average (1/5/15 min) {load()} at the start')
    print('| case | variant | fwd+bwd (s) | vs naive | peak extra (MiB) | vs naive | note |')
    print('|---|---|---|---|---|---|---|')
    for case in args.cases.split(','):
        rows = run_case(case.strip(), args.reps)
        naive = next((row for row in rows if row[0] == 'naive'), None)
        for name, seconds, mib, note in rows:
            vs_time, vs_mem = (f'{seconds / naive[1]:.2f}×', f'{mib / naive[2]:.2f}×') if naive \
                else ('', '')
            print(f'| {case} | {name} | {seconds:.3f} | {vs_time} | {mib:.0f} | {vs_mem} '
                  f'| {note} |', flush=True)
        for name, seconds, _, _ in rows[1:]:
            if name.endswith('(floor)'):
                print(f'| {case} | kdseg / floor | {rows[0][1] / seconds:.2f}× of the '
                      f'{name[:-len(" (floor)")]} | | | | |')
        print(f'| {case} | load average after | {load()} | | | | |', flush=True)


if __name__ == '__main__':
    main()
