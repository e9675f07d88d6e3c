"""Does distillation make the student better? The protocol and its report.

* :mod:`.kd_gain` - one cached teacher, paired student arms per seed, every student evaluated by
  tools/test.py (tools/benchmark_kd_gain.py, make demo); its steps are also what
  tools/benchmark_step_time.py times;
* :mod:`.gain_report` - mean ± sd over seeds, paired gains, the verdict, the table and the chart.
"""
