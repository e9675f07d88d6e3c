"""kdseg.install_check: an mmcv without compiled ops is refused at import with the fix named."""
import pytest

from kdseg.install_check import check_mmcv_ops


def test_mmcv_without_compiled_ops_names_the_fix():
    check_mmcv_ops()  # the installed mmcv has its ops

    def lite_find_spec(name):
        return None if name == 'mmcv._ext' else object()

    with pytest.raises(ImportError, match='MMCV_WITH_OPS=1'):
        check_mmcv_ops(lite_find_spec)
