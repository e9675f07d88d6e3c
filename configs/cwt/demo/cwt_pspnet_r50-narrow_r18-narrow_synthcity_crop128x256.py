# CWT (./cwt_pspnet_r50-narrow_r18-narrow_synthcity.py) on 128x256 training crops: an arm of the
# whole-image PSPNet regime (docs/benchmarks.md, "Whole images"), with the data of the whole-image
# student and a teacher trained on it (../../_base_/distill/synthcity_crop128x256.py). L_feat sums
# over C_t x H x W elements, and C5 is 16x32 here against 8x16 on the 64x128 crops, so alpha is the
# twin's 3e-4 divided by 4: the same weight per element (not tuned on whole images).
_base_ = ['./cwt_pspnet_r50-narrow_r18-narrow_synthcity.py']

from mmengine import Config  # mmengine allows exactly this import in a config file

whole = Config.fromfile('{{ fileDirname }}/../../_base_/distill/synthcity_crop128x256.py')
train_dataloader = whole.train_dataloader
data_preprocessor = whole.data_preprocessor  # the distiller's, and its student's
model = dict(whole.model_changes,
             distiller=dict(distill_losses=dict(loss_cwt=dict(loss_weight=7.5e-5))))
del Config, whole
