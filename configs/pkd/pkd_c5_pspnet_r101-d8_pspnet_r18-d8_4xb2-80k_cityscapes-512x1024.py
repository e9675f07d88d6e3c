# PKD (Cao et al., NeurIPS 2022, arXiv 2207.02039) of PSPNet R101-D8 into PSPNet R18-D8 on
# backbone C5, with mmrazor's PKDLoss: both C5 maps are normalised per channel to zero mean and
# unit variance, then compared by MSE. PKD needs equal channel counts, so a 1x1 conv connector
# lifts the student's 512 channels to the teacher's 2048 (as mmrazor's connectors do for FitNets).
# The loss weight is mmrazor's PKD detection setting (6); kdseg's PSPNet baseline row of
# tools/benchmark_kd_gain.py (docs/benchmarks.md).
_base_ = ['../_base_/distill/pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']

student_c5, teacher_c5 = 512, 2048
model = dict(
    distiller=dict(
        student_recorders=dict(c5=dict(type='ModuleOutputs', source='backbone')),
        teacher_recorders=dict(c5=dict(type='ModuleOutputs', source='backbone')),
        connectors=dict(
            c5_lift=dict(
                type='ConvModuleConnector',
                in_channel=student_c5,
                out_channel=teacher_c5,
                kernel_size=1,
                norm_cfg=None,
                act_cfg=None)),
        # Weight 6, kept at real scale. The CPU-sized twin (demo/) weighs 3 x 6 = 18, the choice of
        # tools/benchmark_kd_gain.py's pretrained regime (docs/benchmarks.md, "The weight grid").
        distill_losses=dict(loss_pkd=dict(type='PKDLoss', loss_weight=6)),
        loss_forward_mappings=dict(
            loss_pkd=dict(
                preds_S=dict(from_student=True, recorder='c5', data_idx=3, connector='c5_lift'),
                preds_T=dict(from_student=False, recorder='c5', data_idx=3)))))
