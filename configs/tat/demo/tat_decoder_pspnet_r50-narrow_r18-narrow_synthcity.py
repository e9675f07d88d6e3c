# TaT on the decoder feature, as TaT-seg places it: the last feature before the classifier. In
# PSPNet that is the decode head's `bottleneck` output (the 3x3 conv after pyramid pooling, then
# dropout and conv_seg): 32 channels in the demo student, 64 in the teacher, the same 8x16 map
# as C5 on a 64x128 crop, so the patch and anchor geometry of the C5 demo config carries over.
# Compared with the C5 config on the selection split in configs/tat/README.md.
_base_ = ['./tat_pspnet_r50-narrow_r18-narrow_synthcity.py']

decoder = dict(type='ModuleOutputs', source='decode_head.bottleneck')
model = dict(
    distiller=dict(
        student_recorders=dict(_delete_=True, decoder=decoder),
        teacher_recorders=dict(_delete_=True, decoder=decoder),
        distill_losses=dict(
            loss_tat=dict(
                student_channels=_base_.model.architecture.decode_head.channels,
                teacher_channels=_base_.model.teacher.decode_head.channels)),
        loss_forward_mappings=dict(
            _delete_=True,
            loss_tat=dict(
                student=dict(from_student=True, recorder='decoder'),
                teacher=dict(from_student=False, recorder='decoder')))))
