# DIST (Huang et al., NeurIPS 2022, arXiv 2205.10536) of the logits, PSPNet R101-D8 -> R18-D8 on
# Cityscapes, with kdseg's DenseDISTLoss (mmrazor's own DISTLoss is the classification port,
# whose intra-class term is another loss on dense logits). The authors'
# Cityscapes setting (hunto/DIST_KD segmentation/train_kd.py, the CIRKD protocol): beta = gamma = 1,
# no temperature (tau = 1), every pixel of the batch a row, on the stride-8 logits of the decode
# head (weight 1) AND of the auxiliary FCN head (weight 0.4, the auxiliary head's own task-loss
# weight), teacher and student logits at the same size. Written on kdseg's real-scale shell,
# the same recorders as configs/cwd/; settings and published numbers: configs/dist/README.md.
_base_ = [
    '../_base_/distill/pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py'
]

dist_loss = dict(type='DenseDISTLoss', beta=1.0, gamma=1.0, temperature=1.0)
model = dict(
    distiller=dict(
        # Weight 1 and 0.4, kept at real scale. The CPU-sized twin (demo/) weighs 3 and 1.2, the
        # choice of tools/benchmark_kd_gain.py's pretrained regime (docs/benchmarks.md, "The weight
        # grid").
        distill_losses=dict(
            loss_dist=dict(dist_loss, loss_weight=1.0),
            loss_dist_aux=dict(dist_loss, loss_weight=0.4)),
        student_recorders=dict(
            logits=dict(type='ModuleOutputs', source='decode_head.conv_seg'),
            aux_logits=dict(type='ModuleOutputs', source='auxiliary_head.conv_seg')),
        teacher_recorders=dict(
            logits=dict(type='ModuleOutputs', source='decode_head.conv_seg'),
            aux_logits=dict(type='ModuleOutputs', source='auxiliary_head.conv_seg')),
        loss_forward_mappings=dict(
            loss_dist=dict(
                student=dict(from_student=True, recorder='logits'),
                teacher=dict(from_student=False, recorder='logits')),
            loss_dist_aux=dict(
                student=dict(from_student=True, recorder='aux_logits'),
                teacher=dict(from_student=False, recorder='aux_logits')))))
