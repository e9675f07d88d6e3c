"""RNG state capture/restore and the restore point after mmengine's replay of skipped batches."""
import random

import numpy as np
import torch

from kdseg.engine.hooks.rng_state_hook import _RestoreBeforeDraw, get_rng_state, set_rng_state


def _draw():
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_restored_state_repeats_every_generator():
    state = get_rng_state()
    first = _draw()
    _draw()
    set_rng_state(state)
    assert _draw() == first


def test_restore_happens_after_the_skipped_draws_and_once():
    calls = []
    iterator = _RestoreBeforeDraw(iter(range(10)), skip=3, restore=lambda: calls.append('r'))
    seen = []
    for _ in range(3):
        seen.append(next(iterator))
    assert calls == [] and seen == [0, 1, 2]
    assert next(iterator) == 3 and calls == ['r']
    assert next(iterator) == 4 and calls == ['r']


def test_state_survives_the_checkpoint_loader(tmp_path):
    """What RNGStateHook writes (a list of per-rank states) loads with weights_only=True."""
    from kdseg.compat import safe_torch_load
    state = get_rng_state()
    torch.save({'rng_state': [state]}, tmp_path / 'c.pth')
    loaded = safe_torch_load(str(tmp_path / 'c.pth'))['rng_state'][0]
    first = _draw()
    set_rng_state(loaded)
    assert _draw() == first
