# The demo schedule (demo_adamw_poly.py) on mmseg's runtime, with the hooks mmseg's schedule files
# define: logs every 10 iterations, one checkpoint at the end. mmseg's default_runtime defines
# env_cfg and log_processor, so these cannot sit in the task-neutral shell.
_base_ = ['mmseg::_base_/default_runtime.py', './demo_adamw_poly.py']

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=_base_.max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
log_processor = dict(by_epoch=False, window_size=10)
env_cfg = dict(cudnn_benchmark=False)
