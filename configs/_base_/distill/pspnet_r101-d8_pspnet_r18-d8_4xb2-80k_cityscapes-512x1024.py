# Real-scale distillation shell: PSPNet R101-D8 teacher (mmseg's Cityscapes 80k checkpoint,
# 79.76 mIoU) -> PSPNet R18-D8 student (ImageNet-initialised; 74.87 mIoU trained alone), Cityscapes
# 512x1024, 80k iterations, 4 GPUs x 2 images, SyncBN: everything but the model is mmseg's student
# config. The distiller is empty: a method config adds its recorders, connectors, losses and
# loss_forward_mappings under model.distiller (see configs/cwd/ for a complete one).
_base_ = ['mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='KDSingleTeacherDistill',
    architecture=_base_.model,  # carries _scope_='mmseg' from the mmseg:: base
    # built by mmengine.hub.get_model; its ImageNet init is never run, teacher_ckpt replaces it
    teacher=dict(
        cfg_path='mmseg::pspnet/pspnet_r101-d8_4xb2-80k_cityscapes-512x1024.py', pretrained=False),
    teacher_ckpt='https://download.openmmlab.com/mmsegmentation/v0.5/pspnet/pspnet_r101-d8_512x1024_80k_cityscapes/pspnet_r101-d8_512x1024_80k_cityscapes_20200606_112211-e1e1100f.pth',  # noqa: E501
    distiller=dict(type='KDConfigurableDistiller'))

find_unused_parameters = True
# validates the student and, once, the teacher (its metrics are logged with a `teacher.` prefix)
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
