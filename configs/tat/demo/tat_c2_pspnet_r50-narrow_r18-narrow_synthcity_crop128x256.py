# TaT where its hierarchy matters: the demo TaT (./tat_pspnet_r50-narrow_r18-narrow_synthcity.py)
# on C2, the first stage (stride 4: 16 student, 64 teacher channels), of 128x256 training crops:
# a 32x64 map, 2048 positions (C5 of the 64x128 demo crop: 8x16, 128). The geometry keeps TaT-seg's
# (and the real config's) in pixels of the map: 8x8-pixel patches, in groups of p = 4, and 4x4-pixel
# anchor windows; alpha as the demo's, 1.0. The teacher is the demo teacher (trained on 64x128
# crops; fully convolutional). docs/benchmarks.md, "TaT where its hierarchy matters".
_base_ = ['./tat_pspnet_r50-narrow_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

crops = Config.fromfile(
    '{{ fileDirname }}/../../_base_/datasets/synthetic_cityscapes_crop128x256.py')
train_dataloader = dict(dataset=dict(pipeline=crops.train_pipeline))
data_preprocessor = dict(size=crops.crop_size)
c2 = dict(student=dict(data_idx=0), teacher=dict(data_idx=0))  # backbone outputs: stages 1..4
model = dict(
    architecture=dict(data_preprocessor=dict(size=crops.crop_size)),  # as the distiller's
    distiller=dict(
        distill_losses=dict(
            loss_tat=dict(
                student_channels=_base_.model.architecture.decode_head.in_channels // 8,
                teacher_channels=_base_.model.teacher.decode_head.in_channels // 8,
                num_patches=(4, 8),  # 8x8 pixels each on the 32x64 map
                num_groups=8,  # 32 patches / 8 = 4 per group
                num_anchors=(8, 16))),  # 4x4-pixel windows
        loss_forward_mappings=dict(loss_tat=c2)))
del Config, crops, c2
