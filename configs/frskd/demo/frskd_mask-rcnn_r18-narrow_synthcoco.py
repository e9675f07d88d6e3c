# FRSKD self-distillation of the demo Mask R-CNN R18-narrow student on the synthetic COCO-format
# data: the CPU-sized twin of ../frskd_fpn_mask-rcnn_r50_2x_coco.py, with the self-teacher,
# losses and schedule of the Faster R-CNN twin next to this file.
_base_ = ['../../demo_models/mask-rcnn_r18-narrow_fpn_synthcoco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

faster = Config.fromfile('{{ fileDirname }}/frskd_faster-rcnn_r18-narrow_synthcoco.py')
model = dict(faster.model, _delete_=True, architecture=_base_.model)
custom_hooks = faster.custom_hooks
del Config, faster
