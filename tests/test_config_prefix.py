"""`_base_ = ['kdseg::...']` works from a config in the user's own folder
(kdseg.compat.kdseg_config_prefix)."""
import shutil
from pathlib import Path

import pytest
from mmengine import Config

from kdseg import compat

REPO_CONFIGS = Path(compat.__file__).resolve().parent.parent / 'configs'


def _config_named(pattern):
    """The path under configs/ of the config matching pattern, wherever it was moved to."""
    matches = sorted(REPO_CONFIGS.rglob(pattern))
    assert matches, f'no config {pattern} under {REPO_CONFIGS}'
    return matches[0].relative_to(REPO_CONFIGS).as_posix()


def _user_config(folder, base):
    path = Path(folder) / 'my_config.py'
    path.write_text(f"_base_ = ['kdseg::{base}']\ntrain_cfg = dict(max_iters=7)\n")
    return str(path)


def test_tat_distillation_config_from_a_user_folder(tmp_path):
    base = _config_named('tat_c5_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py')
    cfg = Config.fromfile(_user_config(tmp_path, base))
    assert cfg.model.type == 'KDSingleTeacherDistill'
    assert cfg.model.distiller.distill_losses.loss_tat.type == 'TaTLoss'
    assert cfg.train_cfg.max_iters == 7
    assert '_scope_' not in cfg.train_dataloader  # scoped as in the repo, not as 'kdseg'


def test_demo_config_from_a_user_folder(tmp_path):
    base = _config_named('pspnet_r18-narrow_synthcity.py')
    cfg = Config.fromfile(_user_config(tmp_path, base))
    assert cfg.model.type == 'EncoderDecoder'
    assert cfg.model.backbone.depth == 18


def test_installed_package_configs_under_mim(tmp_path, monkeypatch):
    """A regular install has no checkout around it; configs ship as kdseg/.mim/configs."""
    package = tmp_path / 'site-packages' / 'kdseg'
    shutil.copytree(REPO_CONFIGS, package / '.mim' / 'configs')
    demo = package / '.mim' / 'configs' / _config_named('pspnet_r18-narrow_synthcity.py')
    demo.write_text(demo.read_text() + "\nkdseg_copy = 'installed'\n")
    monkeypatch.setattr(compat, '__file__', str(package / 'compat.py'))
    assert compat._kdseg_config_roots() == [package / '.mim' / 'configs']
    user = tmp_path / 'user'
    user.mkdir()
    cfg = Config.fromfile(_user_config(user, _config_named('pspnet_r18-narrow_synthcity.py')))
    assert cfg.model.backbone.depth == 18
    assert cfg.kdseg_copy == 'installed'  # read from the installed copy, not the checkout


def test_site_packages_configs_folder_is_not_mistaken_for_kdseg(tmp_path, monkeypatch):
    package = tmp_path / 'site-packages' / 'kdseg'
    package.mkdir(parents=True)
    (tmp_path / 'site-packages' / 'configs').mkdir()  # another distribution's top-level folder
    monkeypatch.setattr(compat, '__file__', str(package / 'compat.py'))
    assert compat._kdseg_config_roots() == [package / '.mim' / 'configs']
    with pytest.raises(FileNotFoundError, match='not a kdseg config'):
        Config.fromfile(_user_config(tmp_path, 'demo/pspnet_r18-narrow_synthcity.py'))


def test_missing_kdseg_config_names_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match='no tat/nope.py under'):
        Config.fromfile(_user_config(tmp_path, 'tat/nope.py'))


def test_other_prefixes_still_go_to_mmengine(tmp_path):
    path = tmp_path / 'seg.py'
    path.write_text("_base_ = ['mmseg::_base_/models/pspnet_r50-d8.py']\n")
    cfg = Config.fromfile(str(path))
    assert cfg.model.type == 'EncoderDecoder' and cfg.model._scope_ == 'mmseg'
