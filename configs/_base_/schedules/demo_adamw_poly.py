# The demo schedule, task-neutral: AdamW from random init (SGD at mmdet's/mmseg's rates assumes
# ImageNet weights), a 50-iteration linear warm-up then poly decay to 0 at `max_iters`, an
# iteration-based loop that validates once, at the end, and seed 0. The task shells
# demo_mmdet.py / demo_mmseg.py add mmdet's/mmseg's runtime and the hooks.
# The values are the detectors' (measured in configs/demo_models/faster-rcnn_r50-narrow_*); the
# PSPNet demo models set their own. A config that changes `max_iters` or `lr` restates the keys
# computed from them, as configs/demo_models/pspnet_* do; `tools/train.py CONFIG --iters N`
# moves the whole budget at once.
max_iters = 300
warmup_iters = 50
lr = 1e-3

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False, begin=warmup_iters, end=max_iters)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
randomness = dict(seed=0)
