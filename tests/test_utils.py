"""pyfrozen.utils.set_random_seed: the same seed and thread count give bit-identical
weights after fit with unseeded initializers, shuffling, validation_split and Dropout
(two runs in one process); another seed gives other weights."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers


def _fit(seed: int) -> list[bytes]:
    pyfrozen.utils.set_random_seed(seed)
    model = pyfrozen.Sequential([
        pyfrozen.Input((12, 12, 3)),
        layers.Conv2D(8, 3, padding="same", activation="relu"),  # unseeded initializers
        layers.BatchNormalization(),
        layers.Dropout(0.3),  # the process-wide dropout generator
        layers.GlobalAveragePooling2D(),
        layers.Dropout(0.2),
        layers.Dense(4),
    ])
    data = np.random.default_rng(0)  # the same data every run, seeded on its own
    x = data.standard_normal((40, 12, 12, 3)).astype(np.float32)
    y = data.integers(0, 4, 40)
    model.compile(pyfrozen.optimizers.Adam(0.01),
                  loss=pyfrozen.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=8, epochs=3, shuffle=True, validation_split=0.2, verbose=0)
    return [w.data.tobytes() for w in model.weights]


def test_same_seed_same_bits_after_fit(threads):
    first = _fit(1234)
    np.random.rand(7)  # whatever ran in between does not matter
    assert _fit(1234) == first
    assert _fit(1235) != first


def test_only_integer_seeds():
    with pytest.raises(ValueError, match="Expected `seed` argument to be an integer"):
        pyfrozen.utils.set_random_seed(1.5)
    with pytest.raises(ValueError, match=r"in \[0, 2\*\*32\)"):
        pyfrozen.utils.set_random_seed(-1)
