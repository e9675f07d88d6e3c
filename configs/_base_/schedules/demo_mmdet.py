# The demo schedule (demo_adamw_poly.py) on mmdet's runtime: logs every 10 iterations, one
# checkpoint at the end. mmdet's default_runtime defines default_hooks, env_cfg and log_processor,
# so these overrides cannot sit in the task-neutral shell (mmengine refuses a key two bases define).
_base_ = ['mmdet::_base_/default_runtime.py', './demo_adamw_poly.py']

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=_base_.max_iters))
log_processor = dict(by_epoch=False, window_size=10)
env_cfg = dict(cudnn_benchmark=False)
