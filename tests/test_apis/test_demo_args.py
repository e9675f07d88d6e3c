"""tools/demo.py is tools/benchmark_kd_gain.py with the demo's settings; a flag given wins."""
import importlib.util
import os.path as osp

import pytest

from conftest import ROOT



@pytest.fixture
def demo(monkeypatch):
    spec = importlib.util.spec_from_file_location('kdseg_demo',
                                                  osp.join(ROOT, 'tools', 'demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls = []
    monkeypatch.setattr(module, 'benchmark', lambda argv: calls.append(argv) or argv)
    return module, calls


def test_demo_runs_the_pretrained_regime_with_two_seeds_the_flagship_twin_and_a_second_method(
        demo):
    module, calls = demo
    argv = module.main([])
    from benchmark_kd_gain import parse_args  # tools/ is on sys.path once demo.py is loaded
    args = parse_args(argv)
    assert len(args.seeds) >= 2 and args.split == 'report' and args.pretrain_iters > 0
    assert args.data_root == 'data/synthetic_cityscapes'
    assert [name for name, _ in args.method] == ['TaT', 'PKD']
    assert args.method[0][1][0].endswith('tat_decoder_pspnet_r50-narrow_r18-narrow_synthcity.py')
    assert all(osp.isfile(config) for _, (config, _) in args.method)


def test_a_flag_given_replaces_the_demo_default_with_its_values(demo):
    module, calls = demo
    argv = module.main(['--seeds', '3', '4', '5', '--work-dir', 'elsewhere'])
    from benchmark_kd_gain import parse_args
    args = parse_args(argv)
    assert args.seeds == [3, 4, 5] and args.work_dir == 'elsewhere'
    assert args.student_iters == 800 and argv.count('--seeds') == 1


def test_a_method_given_replaces_both_demo_arms(demo):
    module, calls = demo
    config = osp.join(ROOT, 'configs', 'cwd', 'demo',
                      'cwd_pspnet_r50-narrow_r18-narrow_synthcity.py')
    argv = module.main(['--method', f'CWD={config}'])
    from benchmark_kd_gain import parse_args
    assert [name for name, _ in parse_args(argv).method] == ['CWD']
