from .frskd import AttentionTransferLoss, SoftLabelKDLoss
from .review import ReviewKDLoss
from .tat import TaTLoss

__all__ = ['AttentionTransferLoss', 'ReviewKDLoss', 'SoftLabelKDLoss', 'TaTLoss']
