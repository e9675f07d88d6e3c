"""What both synthetic dataset writers share: preparing the output folder."""
import shutil
from pathlib import Path
from typing import Sequence


def prepare_root(root: Path, subdirs: Sequence[str], overwrite: bool) -> None:
    """Refuse to mix with an earlier dataset in ``root`` unless ``overwrite`` removes it."""
    for name in subdirs:
        existing = root / name
        if existing.exists() and any(existing.iterdir()):
            if not overwrite:
                raise FileExistsError(f'{existing} is not empty; pass overwrite=True to replace it')
            shutil.rmtree(existing)
