"""The library side of tools/train.py and tools/test.py."""
from .runner_setup import (enable_amp, enable_cpu_distributed, enable_dump, enable_show_dir,
                           load_config, set_resume, skip_teacher_ckpt)

__all__ = [
    'enable_amp', 'enable_cpu_distributed', 'enable_dump', 'enable_show_dir', 'load_config',
    'set_resume', 'skip_teacher_ckpt'
]
