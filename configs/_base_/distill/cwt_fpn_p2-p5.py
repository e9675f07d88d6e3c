# CWT (channel-wise transformation, Liu et al., ICCV-W 2023, arXiv 2303.13212) on the FPN outputs
# P2-P5 of an mmdet two-stage detector: a fragment read with Config.fromfile by
# configs/cwt/cwt_fpn_* and configs/cwt/demo/*_synthcoco.py. Each level has its own
# ChannelMLPConnector on the student's map (256 -> 256 channels, hidden width = C_t = 256, biases,
# no BN; levels differ in scale statistics) and its own L2Loss against the raw teacher map:
# normalize=False (mmrazor's default normalize=True is another loss) and div_element=False, the
# sum over all elements divided by the batch size (the FGD/MGD convention).
# alpha = 5e-7 per level is MGD's Faster R-CNN weight in the same convention (CWT follows MGD's
# protocol and publishes no alpha); configs/cwt/README.md.
# P2-P5: with num_outs=5 and no extra convs, P6 is a max-pool of P5 and adds nothing.
fpn_channels = 256
fpn_levels = 4
distiller = dict(
    type='KDConfigurableDistiller',
    student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
    teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
    connectors={
        f'mlp_p{i + 2}': dict(
            type='ChannelMLPConnector', student_channels=fpn_channels,
            teacher_channels=fpn_channels)
        for i in range(fpn_levels)
    },
    distill_losses={
        f'loss_cwt_p{i + 2}': dict(
            type='L2Loss', normalize=False, div_element=False, loss_weight=5e-7)
        for i in range(fpn_levels)
    },
    loss_forward_mappings={
        f'loss_cwt_p{i + 2}': dict(
            s_feature=dict(
                from_student=True, recorder='fpn', data_idx=i, connector=f'mlp_p{i + 2}'),
            t_feature=dict(from_student=False, recorder='fpn', data_idx=i))
        for i in range(fpn_levels)
    })
