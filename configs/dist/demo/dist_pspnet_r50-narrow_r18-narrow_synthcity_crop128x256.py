# DIST (./dist_pspnet_r50-narrow_r18-narrow_synthcity.py, its weights as they are: logits distillation
# does not grow with the map size) on 128x256 training crops: an arm of the whole-image PSPNet
# regime (docs/benchmarks.md, "Whole images"), with the data of the whole-image student and a
# teacher trained on it (../../_base_/distill/synthcity_crop128x256.py).
_base_ = ['./dist_pspnet_r50-narrow_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

whole = Config.fromfile('{{ fileDirname }}/../../_base_/distill/synthcity_crop128x256.py')
train_dataloader = whole.train_dataloader
data_preprocessor = whole.data_preprocessor  # the distiller's, and its student's
model = whole.model_changes
del Config, whole
