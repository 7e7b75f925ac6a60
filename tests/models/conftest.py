"""Data, models, losses and metrics shared by the training tests."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen


@pytest.fixture
def regression_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    w = rng.standard_normal((4, 2)).astype(np.float32)
    return x, x @ w


@pytest.fixture
def small_model():
    def make(units=2, name=None):
        inputs = pyfrozen.Input((4,), name="features")
        hidden = pyfrozen.layers.Dense(8, activation="relu", name="hidden")(inputs)
        out = pyfrozen.layers.Dense(units, name="head")(hidden)
        return pyfrozen.Model(inputs, out, name=name)

    return make


@pytest.fixture
def mse():
    return pyfrozen.losses.MeanSquaredError()


@pytest.fixture
def sparse_ce():
    return pyfrozen.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.fixture
def accuracy():
    return lambda: pyfrozen.metrics.SparseCategoricalAccuracy(name="accuracy")
