"""kdseg's main job on built-in synthetic data: does distillation make the student better?

    python tools/demo.py [--work-dir work_dirs/demo] [--seeds 0 1] [--method "NAME=CONFIG ..."]

The distillation-gain benchmark (tools/benchmark_kd_gain.py) at demo size, in the pretrained
regime (where users train: backbones start from pretrained weights, as real configs start from
ImageNet's), same protocol:

1. generate the synthetic Cityscapes-format data in data/synthetic_cityscapes, where the demo
   configs look (400 training images and a 200-image report val set; a 200-image selection val
   set in data/synthetic_cityscapes_select; 400 source images of another appearance in
   data/synthetic_cityscapes_source; seeded, skipped when already there);
2. pretrain the backbones of the CPU-sized PSPNet R50 teacher and R18 student on the source
   images (400 iterations each), the demo's stand-in for ImageNet weights;
3. train the teacher once from its pretrained backbone (1500 iterations);
4. for every seed, train the R18 student alone, the student distilled with TaT (the flagship's
   twin) and with PKD (the method with the largest gain of the pretrained regime on the selection
   split, docs/benchmarks.md), all from the same initial weights (the pretrained backbone),
   batches and random draws, 800 iterations each;
5. evaluate every student with tools/test.py on the report val set and print mean ± sd over the
   seeds, the gains, whether each exceeds 2 sd, the step-time ratios, and the chart's path.

Every step is the command a user would type (tools/train.py, tools/test.py), run as a subprocess;
finished steps are found again in the work dir. No number of one seed is shown as a result.
The budgets are shorter than the benchmark's (1200 / 3000 / 1200 iterations) so that the demo
fits in 15 minutes on 2 idle cores (README.md has the measured time).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # tools/ (when imported, not run)

from benchmark_kd_gain import CONFIGS, main as benchmark  # noqa: E402

# data/synthetic_cityscapes is where configs/demo_models/ and configs/<method>/demo/ look
DEMO = ['--seeds', '0', '1', '--pretrain-iters', '400', '--teacher-iters', '1500',
        '--student-iters', '800', '--data-root', 'data/synthetic_cityscapes',
        '--work-dir', 'work_dirs/demo',
        '--title', 'make demo: PSPNet R50 -> R18, synthetic, pretrained backbones',
        '--method',
        'TaT=' + osp.join(CONFIGS, 'tat', 'demo',
                          'tat_decoder_pspnet_r50-narrow_r18-narrow_synthcity.py'),
        '--method',
        'PKD=' + osp.join(CONFIGS, 'pkd', 'demo', 'pkd_pspnet_r50-narrow_r18-narrow_synthcity.py')]


def main(argv=None) -> dict:
    """The benchmark with the demo's settings; any benchmark flag given here wins."""
    argv = sys.argv[1:] if argv is None else argv
    given = {a for a in argv if a.startswith('--')}
    defaults, i = [], 0
    while i < len(DEMO):  # keep each demo flag (and its values) the user did not give
        j = i + 1
        while j < len(DEMO) and not DEMO[j].startswith('--'):
            j += 1
        if DEMO[i] not in given:
            defaults += DEMO[i:j]
        i = j
    return benchmark(defaults + list(argv))


if __name__ == '__main__':
    main()
