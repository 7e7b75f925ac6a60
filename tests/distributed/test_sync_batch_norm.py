"""SyncBatchNormalization in one process (its 2-rank behaviour: test_strategy.py)."""

from __future__ import annotations

import numpy as np
import pytest

from pyfrozen.distributed import SyncBatchNormalization
from pyfrozen.layers import BatchNormalization


def test_outside_a_strategy_it_is_batch_normalization(rng):
    x = rng.normal(size=(8, 3, 3, 4)).astype(np.float32)
    sync, plain = SyncBatchNormalization(), BatchNormalization()
    for training in (True, False, True):
        np.testing.assert_array_equal(sync(x, training=training).numpy(),
                                      plain(x, training=training).numpy())
    np.testing.assert_array_equal(sync.moving_mean.numpy(), plain.moving_mean.numpy())


@pytest.mark.parametrize("flag", ["center", "scale"])
def test_center_and_scale_are_required(flag):
    with pytest.raises(ValueError, match="center and scale must be True"):
        SyncBatchNormalization(**{flag: False})
