# FRSKD of the demo Faster R-CNN R18-narrow with the authors' segmentation self-teacher
# (BiFPNSeg, two layers, the last top-down only) on the FPN outputs P2-P6: their design is a
# BiFPNSeg stack on the student's own feature pyramid at its width, which is what an FPN gives
# (5 levels of 64 channels here: no laterals). The student's RPN and RoI heads run on the refined
# levels, as in ./frskd_faster-rcnn_r18-narrow_synthcoco.py, whose everything else this keeps
# (schedule and ramp included: the authors' LR drop and per-epoch ramp belong to their VOC
# recipe, and the detection configs keep mmdet's schedules).
_base_ = ['./frskd_faster-rcnn_r18-narrow_synthcoco.py']

model = dict(
    self_teacher=dict(_delete_=True, type='BiFPNSegSelfTeacher',
                      in_channels=_base_.model.self_teacher.in_channels, num_layers=2))
