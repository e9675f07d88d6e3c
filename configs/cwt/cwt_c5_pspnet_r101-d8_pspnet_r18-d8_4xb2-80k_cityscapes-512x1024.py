# CWT (channel-wise transformation, Liu et al., ICCV-W 2023, arXiv 2303.13212) of PSPNet R101-D8
# into PSPNet R18-D8 on backbone C5, the paper's Cityscapes setting (+4.66 mIoU published):
# the student's C5 (512 channels) goes through the learnable MLP W2(ReLU(W1(.))) of 1x1 convs
# (kdseg's ChannelMLPConnector: hidden width = C_t = 2048, biases, no BN) and is compared with the
# raw teacher C5 (2048 channels) by a plain squared L2 distance, summed over all elements and
# divided by the batch size. That is mmrazor's L2Loss with normalize=False (its default
# normalize=True would L2-normalise each sample's features first: another loss).
# alpha = 2e-5 is MGD's PSPNet weight in the same sum/B convention (CWT follows MGD's protocol and
# publishes no alpha); configs/cwt/README.md.
_base_ = ['../_base_/distill/pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']

model = dict(
    distiller=dict(
        student_recorders=dict(c5=dict(type='ModuleOutputs', source='backbone')),
        teacher_recorders=dict(c5=dict(type='ModuleOutputs', source='backbone')),
        connectors=dict(
            mlp_c5=dict(type='ChannelMLPConnector', student_channels=512, teacher_channels=2048)),
        distill_losses=dict(
            loss_cwt=dict(type='L2Loss', normalize=False, div_element=False, loss_weight=2e-5)),
        loss_forward_mappings=dict(
            loss_cwt=dict(
                s_feature=dict(from_student=True, recorder='c5', data_idx=3, connector='mlp_c5'),
                t_feature=dict(from_student=False, recorder='c5', data_idx=3)))))
