# Demo teacher: PSPNet R50-D8 at 1/4 width (stem/base 16 instead of 64), random init, on the
# synthetic Cityscapes data. The CPU-sized twin of mmseg's pspnet_r50-d8 Cityscapes config.
_base_ = [
    'mmseg::_base_/models/pspnet_r50-d8.py',
    '../_base_/datasets/synthetic_cityscapes.py',
    'mmseg::_base_/default_runtime.py',
]

# Budget. Change it with `tools/train.py ... --iters N`, which moves the loop, the validation and
# checkpoint intervals and the LR schedule (warm-up included) together.
max_iters = 600
warmup_iters = 50
# AdamW from random init. Measured on the synthetic data (teacher, 600 it): lr 1e-3 / 3e-3 /
# 6e-3 / 1e-2 -> 27.9 / 38.7 / 42.4 / 41.4 mIoU; the R18 student (400 it): 28.7 at 3e-3, 35.1 at
# 6e-3, 35.0 at 1e-2.
lr = 6e-3

norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN needs CUDA and a process group
# top level too, like mmseg's configs: the runner gives it to models that have none, such as the
# mmrazor distillers built from this config
data_preprocessor = dict(size=_base_.crop_size)
model = dict(
    pretrained=None,  # no download: random init
    data_preprocessor=data_preprocessor,
    backbone=dict(stem_channels=16, base_channels=16, norm_cfg=norm_cfg, init_cfg=None),
    decode_head=dict(in_channels=512, channels=64, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=256, channels=32, norm_cfg=norm_cfg))

optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=lr, weight_decay=0.01), clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False, begin=warmup_iters, end=max_iters)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
log_processor = dict(by_epoch=False, window_size=10)
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
