"""The library side of tools/train.py and tools/test.py."""
from .budget import set_iteration_budget
from .data_check import DataCheckError, check_data
from .export import export_student
from .preflight import check_data_paths
from .runner_setup import (add_safety_hooks, enable_amp, enable_dump, enable_show_dir,
                           load_config, set_resume, set_student_init, skip_teacher_ckpt)

__all__ = [
    'DataCheckError', 'add_safety_hooks', 'check_data', 'check_data_paths', 'enable_amp',
    'enable_dump', 'enable_show_dir', 'export_student', 'load_config', 'set_iteration_budget', 'set_resume', 'set_student_init',
    'skip_teacher_ckpt'
]
