"""kdseg: knowledge distillation for dense prediction on OpenMMLab."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_requirements(name: str) -> list:
    """Requirement lines of requirements/<name>.txt, without comments and blanks."""
    lines = (HERE / 'requirements' / f'{name}.txt').read_text().splitlines()
    return [line.split('#')[0].strip() for line in lines if line.split('#')[0].strip()]


def read_version() -> str:
    text = (HERE / 'kdseg' / 'version.py').read_text()
    return re.search(r"__version__ = '([^']+)'", text).group(1)


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
    license='Apache-2.0',
)
