"""One package per distillation method, each plain torch (import it without mmcv, mmengine or
mmrazor): :mod:`.tat`, :mod:`.review`, :mod:`.frskd`, :mod:`.dist`, and any package added here.
Each declares its method and registers its classes in :mod:`kdseg.registry`;
:mod:`kdseg.models` finds them all."""
