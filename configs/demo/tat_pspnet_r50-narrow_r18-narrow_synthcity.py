# TaT (target-aware transformer, Lin et al., CVPR 2022, arXiv 2205.10793) of the demo PSPNet
# R50-narrow teacher into the R18-narrow student: the CPU-sized twin of configs/pspnet_r18_tat.py
# (hierarchical TaT on backbone C5). `make demo` runs this config.
# Data, schedule and runtime are the student run's, so the two students are directly comparable.
_base_ = ['./pspnet_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

teacher_cfg = Config.fromfile('{{ fileDirname }}/pspnet_r50-narrow_synthcity.py')
del Config

# C5 of the 1/4-width ResNets (stride 8): a 64x128 crop gives 8x16 maps. The patch and anchor
# settings are configs/pspnet_r18_tat.py's scaled by 1/8 with the map: 2x2-pixel patches in groups
# of 4 (p = 4 as in TaT-seg VOC R101->R18), 2x2-pixel anchor windows.
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='SingleTeacherDistill',
    architecture=_base_.model,
    teacher=teacher_cfg.model,
    # where `python tools/train.py configs/demo/pspnet_r50-narrow_synthcity.py` saves its last
    # checkpoint; tools/demo.py and the tests pass theirs with --cfg-options model.teacher_ckpt=...
    teacher_ckpt=f'work_dirs/pspnet_r50-narrow_synthcity/iter_{teacher_cfg.max_iters}.pth',
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(c5=dict(type='ModuleOutputs', source='backbone')),
        teacher_recorders=dict(c5=dict(type='ModuleOutputs', source='backbone')),
        distill_losses=dict(
            loss_tat=dict(
                type='TaTLoss',
                student_channels=_base_.model.decode_head.in_channels,
                teacher_channels=teacher_cfg.model.decode_head.in_channels,
                num_patches=(4, 8),
                num_groups=8,
                num_anchors=(4, 8),
                patch_weight=1.0,
                anchor_weight=0.4,
                loss_weight=1.0)),
        loss_forward_mappings=dict(
            loss_tat=dict(
                student=dict(from_student=True, recorder='c5', data_idx=3),
                teacher=dict(from_student=False, recorder='c5', data_idx=3)))))
del teacher_cfg

find_unused_parameters = True
# validates the student and, once, the teacher (its metrics are logged with a `teacher.` prefix)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
