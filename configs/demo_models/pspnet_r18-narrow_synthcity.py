# Demo student: PSPNet R18-D8 at 1/4 width (stem/base 16), random init, on the synthetic
# Cityscapes data; same data, runtime and optimiser as the demo teacher, shorter budget.
_base_ = ['./pspnet_r50-narrow_synthcity.py']

max_iters = 400  # change it with tools/train.py --iters N
param_scheduler = [_base_.param_scheduler[0], dict(_base_.param_scheduler[1], end=max_iters)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))

model = dict(
    backbone=dict(depth=18),
    decode_head=dict(in_channels=128, channels=32),
    auxiliary_head=dict(in_channels=64, channels=16))
