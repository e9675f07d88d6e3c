# kdseg's flagship: PSPNet R101-D8 -> R18-D8 on Cityscapes 512x1024 (80k iterations, 4 GPUs x 2
# images) with hierarchical TaT on backbone C5.
#   python tools/train.py configs/pspnet_r18_tat.py            # data in data/cityscapes
#   bash tools/dist_train.sh configs/pspnet_r18_tat.py 4
# Settings and their justification: configs/tat/README.md.
_base_ = ['./tat/tat_c5_pspnet_r101-d8_pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']
