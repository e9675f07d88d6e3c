# TaT on the decoder feature, where TaT-seg places it: PSPNet R101-D8 (79.76 mIoU) -> R18-D8
# (74.87 alone), Cityscapes 512x1024, 80k iterations, 4 GPUs x 2 images. configs/pspnet_r18_tat.py
# is this config. The feature is the decode head's `bottleneck` output, the 3x3 conv after pyramid
# pooling that dropout and the classifier read: 128 channels in the student, 512 in the teacher,
# 64x128 on a 512x1024 crop like C5, so the patch and anchor geometry of the C5 config carries
# over. Chosen on the selection split of tools/benchmark_kd_gain.py (configs/tat/README.md):
# alpha = 1.0 with the distillation weight warmed up linearly over the first 1/8 of training
# (DistillWarmupHook), against C5, alpha 0.1 and 3, the plain form, and no warm-up.
_base_ = ['./tat_c5_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']

decoder = dict(type='ModuleOutputs', source='decode_head.bottleneck')
model = dict(
    distiller=dict(
        student_recorders=dict(_delete_=True, decoder=decoder),
        teacher_recorders=dict(_delete_=True, decoder=decoder),
        # Weight 1, kept at real scale. The CPU-sized twin (demo/) weighs 3, the choice of
        # tools/benchmark_kd_gain.py's pretrained regime (docs/benchmarks.md, "The weight grid").
        distill_losses=dict(
            loss_tat=dict(student_channels=128, teacher_channels=512, loss_weight=1.0)),
        loss_forward_mappings=dict(
            _delete_=True,
            loss_tat=dict(
                student=dict(from_student=True, recorder='decoder'),
                teacher=dict(from_student=False, recorder='decoder')))))
# 1/8 of the 80k schedule, as measured on the demo (150 of 1200); moves with tools/train.py --iters
custom_hooks = [dict(type='DistillWarmupHook', warmup_iters=10000)]
