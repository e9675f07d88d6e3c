"""The command-line frame of tools/train.py and tools/test.py.

* :mod:`.frame` - the arguments they share, the runner (``runner_type`` or mmengine's), config
  keys named in registry errors, a clean end of a distributed run;
* :mod:`.runner_setup` - each flag as a config change (``--resume``, ``--amp``,
  ``--student-init``, ``--out``, ``--show-dir``, the safety hooks, CPU multi-process training);
* :mod:`.budget` - ``--iters N``: the whole schedule in N iterations;
* :mod:`.preflight` - missing dataset folders and files, evaluators' annotation files, where a
  checkpoint URL leads, before anything is built;
* :mod:`.data_check` - the data themselves (files, sizes, label ids), before iteration 1.
"""
from .budget import set_iteration_budget
from .data_check import DataCheckError, check_data
from .frame import (UnknownTypeError, add_runner_arguments, config_keys_named,
                    parse_runner_args, runner_from)
from .preflight import check_data_paths
from .runner_setup import (add_safety_hooks, cpu_distributed, enable_amp, enable_dump,
                           enable_show_dir, load_config, set_resume, set_student_init,
                           skip_teacher_ckpt)

__all__ = [
    'DataCheckError', 'UnknownTypeError', 'add_runner_arguments', 'add_safety_hooks',
    'check_data', 'check_data_paths', 'config_keys_named', 'cpu_distributed', 'enable_amp',
    'enable_dump', 'enable_show_dir', 'load_config', 'parse_runner_args', 'runner_from',
    'set_iteration_budget', 'set_resume', 'set_student_init', 'skip_teacher_ckpt'
]
