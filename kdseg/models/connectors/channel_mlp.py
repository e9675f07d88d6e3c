"""Channel-wise transformation of student features (Liu et al., ICCV-W 2023, arXiv 2303.13212)."""
from typing import Optional

from torch import Tensor, nn

from ...registry import register

__all__ = ['ChannelMLPConnector']


def _positive_int(name: str, value: object) -> int:
    # bool is an int in Python: `True` channels is a config slip, not a width of 1
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return value


@register('cwt')
class ChannelMLPConnector(nn.Module):
    """CWT's learnable non-linear channel-wise transformation of the student feature.

    `A Simple and Generic Framework for Feature Distillation via Channel-wise Transformation
    <https://arxiv.org/abs/2303.13212>`_ (Liu, Wang, Chu, ICCV-W 2023). A one-hidden-layer MLP
    over channels, applied at every position of the STUDENT feature only; the teacher feature
    stays raw::

        MLP(F_s) = W2(ReLU(W1(F_s)))     W1: C_s → C_h, W2: C_h → C_t, 1×1 convolutions
        L_feat   = (1/B) Σ_{b,c,h,w} (MLP(F_s) − F_t)²
        L        = L_task + α·L_feat

    This module is MLP(F_s) only; the configs compute L_feat with mmrazor's
    ``L2Loss(normalize=False)`` (the sum over elements divided by the batch size, the FGD/MGD
    convention; ``div_element=True`` gives the mean).

    The paper leaves the hidden width, the biases and any normalisation unstated; kdseg's
    defaults are C_h = C_t, biases on, no normalisation (design notes, METHODS.md section 2).
    With ``norm=True`` a BatchNorm2d sits between W1 and the ReLU; it subtracts the batch mean,
    so W1's bias then has no effect (``bias=False`` drops it).

    Shapes: feature (B, C_s, H, W) → (B, C_t, H, W).

    Args:
        student_channels: C_s, the channels of the student feature.
        teacher_channels: C_t, the channels of the teacher feature it is compared with.
        hidden_channels: C_h, the width of the hidden layer. Defaults to None: C_t.
        bias: whether W1 and W2 have a bias. Defaults to True.
        norm: a BatchNorm2d after W1, before the ReLU. Defaults to False.
    """

    def __init__(self,
                 student_channels: int,
                 teacher_channels: int,
                 hidden_channels: Optional[int] = None,
                 bias: bool = True,
                 norm: bool = False) -> None:
        super().__init__()
        self.student_channels = _positive_int('student_channels', student_channels)
        teacher_channels = _positive_int('teacher_channels', teacher_channels)
        hidden_channels = _positive_int(
            'hidden_channels', teacher_channels if hidden_channels is None else hidden_channels)
        self.w1 = nn.Conv2d(student_channels, hidden_channels, kernel_size=1, bias=bias)
        self.bn = nn.BatchNorm2d(hidden_channels) if norm else nn.Identity()
        # in place: W1's and BatchNorm's backward do not need their output (saves one C_h map)
        self.relu = nn.ReLU(inplace=True)
        self.w2 = nn.Conv2d(hidden_channels, teacher_channels, kernel_size=1, bias=bias)

    def forward(self, feature: Tensor) -> Tensor:
        """MLP(F_s): (B, C_s, H, W) → (B, C_t, H, W)."""
        if feature.dim() != 4:
            raise ValueError('ChannelMLPConnector expects a (B, C, H, W) student feature, got '
                             f'shape {tuple(feature.shape)}')
        if feature.shape[1] != self.student_channels:
            raise ValueError(f'student_channels={self.student_channels}, but the student feature '
                             f'has {feature.shape[1]} channels (shape {tuple(feature.shape)})')
        return self.w2(self.relu(self.bn(self.w1(feature))))
