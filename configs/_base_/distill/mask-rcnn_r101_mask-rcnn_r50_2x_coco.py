# Real-scale distillation shell: Mask R-CNN R101-FPN teacher (mmdet's COCO 2x checkpoint, 40.8 box
# / 36.6 mask AP) -> Mask R-CNN R50-FPN student (ImageNet-initialised; 39.2 box / 35.4 mask AP
# trained alone), COCO, 2x schedule, 8 GPUs x 2 images: everything but the model is mmdet's
# student config. The wrapper is the Faster R-CNN shell's (FpnTeacherDistill: the teacher runs
# only backbone + neck; an empty distiller; student and teacher validation); only the student, the
# teacher and its checkpoint differ. A method config fills model.distiller (see configs/pkd/).
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_2x_coco.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

faster = Config.fromfile('{{ fileDirname }}/faster-rcnn_r101_faster-rcnn_r50_2x_coco.py')
model = dict(
    faster.model,
    _delete_=True,
    architecture=_base_.model,  # carries _scope_='mmdet' from the mmdet:: base
    teacher=dict(cfg_path='mmdet::mask_rcnn/mask-rcnn_r101_fpn_2x_coco.py', pretrained=False),
    teacher_ckpt='https://download.openmmlab.com/mmdetection/v2.0/mask_rcnn/mask_rcnn_r101_fpn_2x_coco/mask_rcnn_r101_fpn_2x_coco_bbox_mAP-0.408__segm_mAP-0.366_20200505_071027-14b391c7.pth')  # noqa: E501
find_unused_parameters = faster.find_unused_parameters
val_cfg = dict(faster.val_cfg, _delete_=True)
del Config, faster
