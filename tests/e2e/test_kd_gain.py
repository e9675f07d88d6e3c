"""Paired distillation arms and the gain benchmark driver, end to end through the CLI tools."""
import json
import os
import os.path as osp
import statistics
import sys

import pytest
import torch

from kdseg.apis.benchmarking.kd_gain import save_student_init

from .conftest import CONFIGS, ROOT

pytestmark = pytest.mark.e2e

TEACHER = 'demo_models/pspnet_r50-narrow_synthcity.py'
STUDENT = 'demo_models/pspnet_r18-narrow_synthcity.py'
ZERO_WEIGHT = {  # demo distillers and the option that puts every distillation weight at 0
    'tat': ('tat/demo/tat_pspnet_r50-narrow_r18-narrow_synthcity.py',
            'model.distiller.distill_losses.loss_tat.loss_weight=0.0'),
    'pkd': ('pkd/demo/pkd_pspnet_r50-narrow_r18-narrow_synthcity.py',
            'model.distiller.distill_losses.loss_pkd.loss_weight=0.0'),
}
ITERS = 8
SEED = 'randomness.seed=3'


def _student_state(checkpoint: str) -> dict:
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
    if any(k.startswith('architecture.') for k in state):
        state = {k[len('architecture.'):]: v for k, v in state.items()
                 if k.startswith('architecture.')}
    return state


def _max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a
               if a[k].is_floating_point())


@pytest.fixture(scope='module')
def student_init(tools):
    return save_student_init(osp.join(CONFIGS, STUDENT), 3, osp.join(tools.cwd, 'init3.pth'))


@pytest.fixture(scope='module')
def student_alone(tools, student_init):
    return _student_state(tools.train(STUDENT, 'paired_student', ITERS, SEED,
                                      extra=['--student-init', student_init]))


@pytest.mark.parametrize('method', sorted(ZERO_WEIGHT))
def test_zero_weight_distiller_reproduces_the_student_alone_run(tools, student_init,
                                                                student_alone, method):
    config, zero = ZERO_WEIGHT[method]
    teacher = f'model.teacher_ckpt={tools.teacher(TEACHER)}'
    paired = ['--student-init', student_init]
    distilled = _student_state(tools.train(config, f'paired_{method}0', ITERS, SEED, teacher,
                                           zero, extra=paired))
    # the student trained, and with weight 0 it trained exactly as alone ...
    assert _max_difference(student_alone, _student_state(student_init)) > 1e-2
    assert _max_difference(student_alone, distilled) < 1e-6
    # ... while a real weight changes it (the comparison can fail) ...
    weighted = _student_state(tools.train(config, f'paired_{method}', ITERS, SEED, teacher,
                                          extra=paired))
    assert _max_difference(student_alone, weighted) > 1e-4
    # ... and without --student-init the same zero-weight run starts elsewhere
    if method == 'tat':
        unpaired = _student_state(tools.train(config, f'unpaired_{method}0', ITERS, SEED,
                                              teacher, zero))
        assert _max_difference(student_alone, unpaired) > 1e-2


def test_benchmark_driver_aggregates_seeds_and_writes_chart_and_json(tools, tmp_path):
    zero = tmp_path / 'tat_zero.py'  # a user's config: the TaT demo with its weight at 0
    zero.write_text(f"_base_ = ['{osp.join(CONFIGS, ZERO_WEIGHT['tat'][0])}']\n"
                    'model = dict(distiller=dict(distill_losses=dict(loss_tat=dict('
                    'loss_weight=0.0))))\n')
    cwd_config = osp.join(CONFIGS, 'cwd/demo/cwd_pspnet_r50-narrow_r18-narrow_synthcity.py')
    frskd_config = osp.join(CONFIGS, 'frskd/demo/frskd_pspnet_r18-narrow_synthcity.py')
    args = [sys.executable, osp.join(ROOT, 'tools', 'benchmark_kd_gain.py'),
            '--method', f'tat0={zero}', '--method', f'cwd={cwd_config}',
            '--method', f'frskd={frskd_config}', '--seeds', '0', '1',
            '--teacher-iters', '4', '--student-iters', '4', '--num-train', '8', '--num-val', '4',
            '--data-root', 'data/kdg', '--select-root', 'data/kdg_select', '--split', 'select',
            '--work-dir', 'kdg']
    out = tools.run(args)
    assert 'mIoU mean ± sd' in out and 'chart: ' in out
    with open(osp.join(tools.cwd, 'kdg', 'kd_gain.json')) as f:
        result = json.load(f)
    runs = result['runs']
    assert sorted((r['method'], r['seed']) for r in runs) == [
        (m, s) for m in ('cwd', 'frskd', 'student', 'tat0') for s in (0, 1)]
    assert all(r['step_time'] > 0 for r in runs) and result['teacher']['iters'] == 4
    by = {(r['method'], r['seed']): r for r in runs}
    for seed in (0, 1):  # paired: the zero-weight arm is the student-alone arm, seed by seed
        assert by[('tat0', seed)]['mIoU'] == by[('student', seed)]['mIoU']
    assert by[('student', 0)]['checkpoint'] != by[('student', 1)]['checkpoint']
    # self-distillation trains without the teacher (FRSKD takes no teacher_ckpt)
    for seed in (0, 1):
        frskd = torch.load(osp.join(tools.cwd, by[('frskd', seed)]['checkpoint']),
                           map_location='cpu', weights_only=False)['state_dict']
        assert any(k.startswith('self_teacher.') for k in frskd)
        assert not any(k.startswith('teacher.') for k in frskd)
    rows = {row['method']: row for row in result['rows']}
    for name, row in rows.items():
        values = [by[(name, s)]['mIoU'] for s in (0, 1)]
        assert row['values'] == values and row['n'] == 2
        assert row['mean'] == pytest.approx(statistics.mean(values))
        assert row['sd'] == pytest.approx(statistics.stdev(values))
    assert rows['tat0']['gain'] == 0 and rows['tat0']['exceeds_2sd'] is False
    # numbers are on the selection set: generated with the next generator seed, no training set
    assert result['protocol']['split'] == 'select'
    assert osp.isdir(osp.join(tools.cwd, 'data', 'kdg_select', 'leftImg8bit', 'val'))
    assert not osp.isdir(osp.join(tools.cwd, 'data', 'kdg_select', 'leftImg8bit', 'train',
                                  'alphaburg'))
    with open(osp.join(tools.cwd, 'kdg', 'kd_gain.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    # every step is cached: a second run trains and tests nothing
    again = tools.run(args)
    assert '$ ' not in again and 'tools/train.py' not in again


KILL_HOOK = '''
import os
import signal

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillAtIterHook(Hook):
    """SIGKILL this training process right after iteration $<env> was checkpointed."""

    priority = 'LOWEST'  # after CheckpointHook (VERY_LOW) has written this iteration

    def __init__(self, env):
        self.env = env

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == int(os.environ.get(self.env, '0')):
            os.kill(os.getpid(), signal.SIGKILL)
'''


def _killable(path, base: str, env: str, interval: int) -> str:
    """A user's config: ``base`` checkpointing every ``interval`` iterations, killed (SIGKILL,
    as by the OOM killer or a pre-empted job) after the iteration that ``$env`` names."""
    path.write_text(f"_base_ = ['{osp.join(CONFIGS, base)}']\n"
                    "custom_imports = dict(imports=['kill_hook'], allow_failed_imports=False)\n"
                    f"custom_hooks = [dict(type='KillAtIterHook', env='{env}')]\n"
                    f'default_hooks = dict(checkpoint=dict(interval={interval}))\n')
    return str(path)


def test_killed_teacher_and_killed_arm_resume_and_are_never_reported_unfinished(tools, tmp_path):
    (tmp_path / 'kill_hook.py').write_text(KILL_HOOK)
    teacher = _killable(tmp_path / 'teacher.py', TEACHER, 'KILL_TEACHER', 4)
    arm = _killable(tmp_path / 'cwd.py', 'cwd/demo/cwd_pspnet_r50-narrow_r18-narrow_synthcity.py',
                    'KILL_ARM', 2)
    args = [sys.executable, osp.join(ROOT, 'tools', 'benchmark_kd_gain.py'), '--teacher', teacher,
            '--method', f'cwd={arm}', '--seeds', '0', '--teacher-iters', '8',
            '--student-iters', '4', '--num-train', '8', '--num-val', '4',
            '--data-root', 'data/kdk', '--work-dir', 'kdk']
    env = {'PYTHONPATH': os.pathsep.join(filter(None, [str(tmp_path),
                                                       os.environ.get('PYTHONPATH')]))}
    # 1. the teacher is killed after iter_4.pth: the benchmark fails, and reports nothing
    out = tools.run(args, env=dict(env, KILL_TEACHER='4'), fail=True)
    assert 'step failed' in out and not osp.exists(osp.join(tools.cwd, 'kdk', 'kd_gain.json'))
    (teacher_dir,) = [osp.join(tools.cwd, 'kdk', 'teachers', d)
                      for d in os.listdir(osp.join(tools.cwd, 'kdk', 'teachers'))]
    assert osp.isfile(osp.join(teacher_dir, 'iter_4.pth'))
    assert not osp.exists(osp.join(teacher_dir, 'iter_8.pth'))
    # 2. run again: the teacher resumes from iteration 4 to 8; then the distilled arm is killed
    out = tools.run(args, env=dict(env, KILL_ARM='2'), fail=True)
    with open(osp.join(teacher_dir, 'train_resumed.log')) as f:
        assert 'resumed epoch: 0, iter: 4' in f.read()
    assert osp.isfile(osp.join(teacher_dir, 'iter_8.pth'))
    # 3. run again: the arm resumes from iteration 2 to 4; the report holds finished runs only
    out = tools.run(args, env=env)
    assert '| teacher (8 it, seed 0) |' in out
    with open(osp.join(tools.cwd, 'kdk', 'kd_gain.json')) as f:
        result = json.load(f)
    assert result['teacher']['iters'] == 8
    assert result['teacher']['checkpoint'].endswith('iter_8.pth')
    for run in result['runs']:
        assert run['iters'] == 4 and run['checkpoint'].endswith('iter_4.pth'), run
        saved = torch.load(osp.join(tools.cwd, run['checkpoint']), map_location='cpu',
                           weights_only=False)
        assert saved['meta']['iter'] == 4
    (cwd_dir,) = {osp.dirname(r['checkpoint']) for r in result['runs'] if r['method'] == 'cwd'}
    with open(osp.join(tools.cwd, cwd_dir, 'train_resumed.log')) as f:
        assert 'resumed epoch: 0, iter: 2' in f.read()


def _backbone(state: dict) -> dict:
    return {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}


def test_pretrained_regime_starts_teacher_and_students_from_source_backbones(tools):
    cwd_config = osp.join(CONFIGS, 'cwd/demo/cwd_pspnet_r50-narrow_r18-narrow_synthcity.py')
    args = [sys.executable, osp.join(ROOT, 'tools', 'benchmark_kd_gain.py'),
            '--method', f'cwd={cwd_config}', '--seeds', '0', '1', '--pretrain-iters', '4',
            '--teacher-iters', '4', '--student-iters', '4', '--num-train', '8', '--num-val', '4',
            '--data-root', 'data/kdp', '--work-dir', 'kdp']
    out = tools.run(args)
    assert 'pretrained regime (4 it per backbone on data/kdp_source)' in out
    with open(osp.join(tools.cwd, 'kdp', 'kd_gain_pretrained.json')) as f:
        result = json.load(f)
    assert result['regime'] == 'pretrained'
    # the source data: the training images only, same labels as the target generator would draw
    # with its seed, another look
    source = osp.join(tools.cwd, 'data', 'kdp_source')
    assert len(os.listdir(osp.join(source, 'leftImg8bit', 'train', 'alphaburg'))) > 0
    assert not osp.isdir(osp.join(source, 'leftImg8bit', 'val', 'alphaburg'))
    # each backbone file holds exactly its pretraining run's final backbone weights
    backbones = {}
    for name in ('pspnet_r50-narrow_synthcity', 'pspnet_r18-narrow_synthcity'):
        (folder,) = [d for d in os.listdir(osp.join(tools.cwd, 'kdp', 'pretrained'))
                     if d.startswith(name + '_4it')]
        folder = osp.join(tools.cwd, 'kdp', 'pretrained', folder)
        backbone = torch.load(osp.join(folder, 'backbone.pth'), weights_only=True)['state_dict']
        trained = _backbone(_student_state(osp.join(folder, 'iter_4.pth')))
        assert backbone.keys() == trained.keys() and len(backbone) > 10
        assert _max_difference(backbone, trained) == 0
        backbones[name] = backbone
        with open(osp.join(folder, 'train.log')) as f:
            assert 'data/kdp_source' in f.read()
    # every student starts from the student's pretrained backbone, its heads from its seed
    inits = {}
    for seed in (0, 1):
        path = osp.join(tools.cwd, 'kdp', 'inits')
        (name,) = [f for f in os.listdir(path) if f.startswith(
            f'pspnet_r18-narrow_synthcity_seed{seed}_pre4it')]
        inits[seed] = _student_state(osp.join(path, name))
        assert _max_difference(_backbone(inits[seed]),
                               backbones['pspnet_r18-narrow_synthcity']) == 0
    heads = [{k: v for k, v in inits[s].items() if k.startswith('decode_head.')} for s in (0, 1)]
    assert _max_difference(*heads) > 1e-2
    # the teacher trained from its own pretrained backbone (StudentInitHook), then on the target
    teacher_dir = osp.dirname(result['teacher']['checkpoint'])
    with open(osp.join(tools.cwd, teacher_dir, 'train.log')) as f:
        log = f.read()
    assert 'StudentInitHook: student (EncoderDecoder) loaded from' in log and '_pre4it_' in log
    assert result['teacher']['backbone'].endswith('backbone.pth')
    # every run of the pretrained regime is apart from the scratch regime's (its own folders)
    assert all('_pre4it_' in r['checkpoint'] for r in result['runs'])
    again = tools.run(args)
    assert 'tools/train.py' not in again
