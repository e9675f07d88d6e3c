"""What kdseg's tools are made of, one package per purpose (tools/ stay thin):

* :mod:`.cli` - the command-line frame of tools/train.py and tools/test.py: arguments, config
  changes for each flag (``--iters``, ``--resume``, ``--student-init``, ...), the checks before a
  run (dataset paths, the data themselves) and the runner;
* :mod:`.export` - a distillation checkpoint to a plain mmseg/mmdet student
  (tools/export_student.py);
* :mod:`.feature_vis` - teacher and student features side by side (tools/visualize_features.py,
  FeatureVisHook);
* :mod:`.benchmarking` - the distillation-gain protocol and its report
  (tools/benchmark_kd_gain.py, tools/benchmark_step_time.py, make demo).
"""
