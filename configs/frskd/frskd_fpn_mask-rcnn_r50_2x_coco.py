# FRSKD self-distillation of Mask R-CNN R50-FPN on COCO (2x): everything but the model is mmdet's
# student config (39.2 box AP, 35.4 mask AP trained alone). The self-teacher, losses and schedule
# are ./frskd_fpn_faster-rcnn_r50_2x_coco.py's; the self-teacher's detection loss here includes
# the mask head's, on the same sampled RoIs. configs/frskd/README.md.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_2x_coco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

faster = Config.fromfile('{{ fileDirname }}/frskd_fpn_faster-rcnn_r50_2x_coco.py')
model = dict(faster.model, _delete_=True, architecture=_base_.model)
custom_hooks = faster.custom_hooks
del Config, faster
