# Demo distillation shell: the CPU-sized Mask R-CNN R50-narrow teacher -> R18-narrow student on the
# synthetic COCO-format data with masks (configs/demo_models/). The wrapper is the Faster R-CNN demo
# shell's (FpnTeacherDistill, an empty distiller, student and teacher validation); only the
# student (this file's base), the teacher and its checkpoint differ.
_base_ = ['../../demo_models/mask-rcnn_r18-narrow_fpn_synthcoco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

faster = Config.fromfile(
    '{{ fileDirname }}/faster-rcnn_r50-narrow_faster-rcnn_r18-narrow_synthcoco.py')
teacher = Config.fromfile(
    '{{ fileDirname }}/../../demo_models/mask-rcnn_r50-narrow_fpn_synthcoco.py')
model = dict(
    faster.model,
    _delete_=True,
    architecture=_base_.model,
    teacher=teacher.model,
    # where `python tools/train.py configs/demo_models/mask-rcnn_r50-narrow_fpn_synthcoco.py` saves
    # its last checkpoint; the tests pass theirs with --cfg-options model.teacher_ckpt=...
    teacher_ckpt=f'work_dirs/mask-rcnn_r50-narrow_fpn_synthcoco/iter_{teacher.max_iters}.pth')
find_unused_parameters = faster.find_unused_parameters
val_cfg = dict(faster.val_cfg, _delete_=True)
del Config, faster, teacher
