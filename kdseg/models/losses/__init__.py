from .review import ReviewKDLoss
from .tat import TaTLoss

__all__ = ['ReviewKDLoss', 'TaTLoss']
