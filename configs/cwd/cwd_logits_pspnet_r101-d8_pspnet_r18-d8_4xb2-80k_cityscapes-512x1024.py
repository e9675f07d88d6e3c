# Channel-wise distillation (CWD, Shu et al., ICCV 2021, arXiv 2011.13256) of the
# decode-head logits, PSPNet R101-D8 -> R18-D8 on Cityscapes, with mmrazor's
# ChannelWiseDivergence. The same recipe as mmrazor's
# configs/distill/mmseg/cwd/cwd_logits_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py
# (mmrazor reports 75.54 mIoU), written on kdseg's real-scale shell.
_base_ = [
    '../_base_/distill/pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py'
]

model = dict(
    distiller=dict(
        # Weight 5, kept at real scale. The CPU-sized twin (demo/) weighs w0/3 = 1.6667, the choice
        # of tools/benchmark_kd_gain.py's pretrained regime (docs/benchmarks.md, "The weight
        # grid").
        distill_losses=dict(loss_cwd=dict(type='ChannelWiseDivergence', tau=1, loss_weight=5)),
        student_recorders=dict(logits=dict(type='ModuleOutputs', source='decode_head.conv_seg')),
        teacher_recorders=dict(logits=dict(type='ModuleOutputs', source='decode_head.conv_seg')),
        loss_forward_mappings=dict(
            loss_cwd=dict(
                preds_S=dict(from_student=True, recorder='logits'),
                preds_T=dict(from_student=False, recorder='logits')))))
