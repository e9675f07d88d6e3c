# kdseg's flagship: PSPNet R101-D8 -> R18-D8 on Cityscapes 512x1024 (80k iterations, 4 GPUs x 2
# images) with hierarchical TaT on the decoder feature (the decode head's bottleneck output),
# its weight warmed up over the first 1/8 of training: chosen on the selection split of
# tools/benchmark_kd_gain.py.
#   python tools/train.py configs/pspnet_r18_tat.py            # data in data/cityscapes
#   bash tools/dist_train.sh configs/pspnet_r18_tat.py 4
# Settings and their justification: configs/tat/README.md.
_base_ = ['./tat/tat_decoder_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']
