"""Training is reproducible: the same seed and thread count give bit-identical weights.

A small model with every kind of convolution path the core has (a 3-channel stem on the
small-input-channel path, a depthwise convolution, a regular 3x3 convolution on the
GEMM path), BatchNormalization in training mode, pooling and a Dense head trains for 5
steps of hand-written SGD (the core's ``sgd_update`` on each Parameter, as in
``tests/autograd/test_masks.py``), three times from the same seed. Every weight,
including the BatchNormalization moving statistics, must come out with the same bits.
The inputs are large enough that each kernel opens a parallel region. Before the
weight-gradient reductions had a fixed split, two runs at 2 threads already differed.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

import pyfrozen
from pyfrozen import _core, ops
from pyfrozen.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    GlobalAveragePooling2D,
    MaxPooling2D,
    ReLU,
)
from pyfrozen.models import Sequential

STEPS = 5
RUNS = 3


def build(seed: int) -> Sequential:
    random.seed(seed)  # unseeded initializers draw their seeds from `random`
    model = Sequential([
        Conv2D(16, 3, strides=2, padding="same"),  # K = 27: small-input-channel path
        BatchNormalization(),
        ReLU(),
        DepthwiseConv2D(3, padding="same"),
        BatchNormalization(),
        ReLU(),
        Conv2D(24, 3, padding="same"),  # K = 144: im2col + GEMM path
        BatchNormalization(),
        ReLU(),
        MaxPooling2D(2),
        GlobalAveragePooling2D(),
        Dense(10),
    ])
    model.build((None, 40, 40, 3))
    return model


def train(seed: int) -> list[bytes]:
    """The bits of every weight after STEPS steps from `seed`."""
    model = build(seed)
    data = np.random.default_rng(seed)
    x = data.standard_normal((16, 40, 40, 3)).astype(np.float32)
    labels = data.integers(0, 10, 16)
    for _ in range(STEPS):
        loss = ops.softmax_cross_entropy(model(x, training=True), labels)
        loss.backward()
        with pyfrozen.no_grad():
            for p in model.trainable_weights:
                _core.sgd_update(p.data, p.grad.data, learning_rate=0.05, momentum=0.0)
                p._bump_version()
                p.grad = None
    assert np.isfinite(loss.item())
    return [np.ascontiguousarray(w.data).tobytes() for w in model.weights]


@pytest.fixture(params=[2, 3], ids=["2threads", "3threads"])
def team(request: pytest.FixtureRequest):
    if not pyfrozen.has_openmp():
        pytest.skip("core built without OpenMP: training runs on one thread")
    before = pyfrozen.get_num_threads()
    pyfrozen.set_num_threads(request.param)
    yield request.param
    pyfrozen.set_num_threads(before)


def test_same_seed_and_threads_give_bit_identical_weights(team):
    runs = [train(seed=3) for _ in range(RUNS)]
    names = [w.name for w in build(3).weights]
    for i, later in enumerate(runs[1:], start=2):
        differing = [n for n, a, b in zip(names, runs[0], later, strict=True) if a != b]
        assert not differing, f"run {i} at {team} threads differs from run 1 in {differing}"


def test_weights_really_train():
    # The comparison above means something only if the steps move the weights.
    assert train(seed=3) != [np.ascontiguousarray(w.data).tobytes() for w in build(3).weights]
