# Demo teacher: PSPNet R50-D8 at 1/4 width (stem/base 16 instead of 64), random init, on the
# synthetic Cityscapes data. The CPU-sized twin of mmseg's pspnet_r50-d8 Cityscapes config.
_base_ = [
    'mmseg::_base_/models/pspnet_r50-d8.py',
    '../_base_/datasets/synthetic_cityscapes.py',
    '../_base_/schedules/demo_mmseg.py',
]

# Budget: 600 iterations. Change it with `tools/train.py ... --iters N`, which moves the loop, the
# validation and checkpoint intervals and the LR schedule (warm-up included) together.
max_iters = 600
param_scheduler = [_base_.param_scheduler[0], dict(_base_.param_scheduler[1], end=max_iters)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))

# AdamW from random init. Measured on the synthetic data (teacher, 600 it): lr 1e-3 / 3e-3 /
# 6e-3 / 1e-2 -> 27.9 / 38.7 / 42.4 / 41.4 mIoU; the R18 student (400 it): 28.7 at 3e-3, 35.1 at
# 6e-3, 35.0 at 1e-2.
lr = 6e-3
optim_wrapper = dict(optimizer=dict(lr=lr, weight_decay=0.01), clip_grad=None)

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
