# Channel-wise distillation (CWD, Shu et al., ICCV 2021, arXiv 2011.13256) of the demo PSPNet
# R50-narrow teacher into the R18-narrow student on the decode-head logits, with mmrazor's
# ChannelWiseDivergence: the CPU-sized twin of mmrazor's
# configs/distill/mmseg/cwd/cwd_logits_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py.
# Data, schedule and runtime are the student run's, so the two students are directly comparable.
_base_ = ['./pspnet_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

# The teacher's model dict comes from its own config, so a change there (width, depth, head)
# reaches the distillation without being copied here.
teacher_cfg = Config.fromfile('{{ fileDirname }}/pspnet_r50-narrow_synthcity.py')
del Config

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='SingleTeacherDistill',
    architecture=_base_.model,  # carries _scope_='mmseg' from mmseg's model config
    teacher=teacher_cfg.model,
    # where `python tools/train.py configs/demo/pspnet_r50-narrow_synthcity.py` saves its last
    # checkpoint; tools/demo.py and the tests pass theirs with --cfg-options model.teacher_ckpt=...
    teacher_ckpt=f'work_dirs/pspnet_r50-narrow_synthcity/iter_{teacher_cfg.max_iters}.pth',
    distiller=dict(
        type='ConfigurableDistiller',
        distill_losses=dict(loss_cwd=dict(type='ChannelWiseDivergence', tau=1, loss_weight=5)),
        student_recorders=dict(logits=dict(type='ModuleOutputs', source='decode_head.conv_seg')),
        teacher_recorders=dict(logits=dict(type='ModuleOutputs', source='decode_head.conv_seg')),
        loss_forward_mappings=dict(
            loss_cwd=dict(
                preds_S=dict(from_student=True, recorder='logits'),
                preds_T=dict(from_student=False, recorder='logits')))))
del teacher_cfg

find_unused_parameters = True
# validates the student and, once, the teacher (its metrics are logged with a `teacher.` prefix)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
