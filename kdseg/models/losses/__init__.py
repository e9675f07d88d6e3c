from .tat import TaTLoss

__all__ = ['TaTLoss']
