"""kdseg: knowledge distillation for dense prediction on OpenMMLab."""
import re
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent


def read_requirements(name: str) -> list:
    """Requirement lines of requirements/<name>.txt, without comments and blanks."""
    lines = (HERE / 'requirements' / f'{name}.txt').read_text().splitlines()
    return [line.split('#')[0].strip() for line in lines if line.split('#')[0].strip()]


def read_version() -> str:
    text = (HERE / 'kdseg' / 'version.py').read_text()
    return re.search(r"__version__ = '([^']+)'", text).group(1)


class BuildPyWithConfigs(build_py):
    """Ships configs/ as kdseg/.mim/configs in a built package (a wheel, an sdist's build,
    `pip install .`), where `_base_ = ['kdseg::...']` finds them (see
    kdseg.compat.kdseg_config_prefix), as OpenMMLab packages ship theirs. An editable install
    (`pip install -e .`) reads the checkout's configs/ instead, so nothing is copied then, and
    nothing is ever written into the source tree."""

    def run(self) -> None:
        super().run()
        configs = HERE / 'configs'
        if getattr(self, 'editable_mode', False) or not configs.is_dir():
            return
        target = Path(self.build_lib) / 'kdseg' / '.mim' / 'configs'
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(configs, target, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


setup(
    name='kdseg',
    version=read_version(),
    description='Feature distillation (TaT, CWT, KR, FRSKD) for mmdet/mmseg dense prediction',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['kdseg', 'kdseg.*']),
    python_requires='>=3.9',
    # torch and mmcv are deliberately NOT listed: pip would resolve them itself, build mmcv under
    # build isolation and pull a CUDA torch. The Makefile installs them first (see README).
    install_requires=read_requirements('runtime'),
    extras_require={
        'tests': read_requirements('tests'),
        'optional': read_requirements('optional'),
    },
    cmdclass={'build_py': BuildPyWithConfigs},
    license='Apache-2.0',
)
