"""Connectors: learnable transforms of a recorded student feature before a distillation loss.

mmrazor's ``ConfigurableDistiller`` builds each entry of ``distiller.connectors`` from the registry
and calls it on the recorded feature named by a ``loss_forward_mappings`` entry's ``connector``
key; a connector is optimised with the student, saved in the distiller's checkpoints, and not part
of the exported student.

Files:

* :mod:`.channel_mlp` - :class:`ChannelMLPConnector`, CWT's channel-wise MLP on the student feature
  (Liu et al., ICCV-W 2023, arXiv 2303.13212; design notes: METHODS.md section 2).

Everything here is plain torch: ``from kdseg.models.connectors import ChannelMLPConnector`` works
on a machine without mmcv, mmengine or mmrazor. The registration into mmrazor's ``MODELS`` is done
by :mod:`kdseg.models`.
"""
from ...registry import declare_method
from .channel_mlp import ChannelMLPConnector

__all__ = ['ChannelMLPConnector']

METHOD = declare_method(
    'cwt', name='CWT', paper='Liu et al., ICCV-W 2023, arXiv 2303.13212',
    gain_config='cwt/demo/cwt_pspnet_r50-narrow_r18-narrow_synthcity.py')
