"""Small losses and metrics for the training tests, independent of pyfrozen.losses /
pyfrozen.metrics (so the trainer is tested on the interface alone)."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops


class MSE:
    """``mean((p - y)^2)``, optionally weighted per sample (Keras's reduction)."""

    name = "mean_squared_error"

    def __call__(self, y_true, y_pred, sample_weight=None):
        err = (y_pred - np.asarray(y_true, y_pred.dtype)) ** 2
        per_sample = err.mean(axis=-1) if err.ndim > 1 else err
        if sample_weight is None:
            return per_sample.mean()
        w = np.asarray(sample_weight, y_pred.dtype)
        return (per_sample * w).sum() / float(len(w))


class SparseCE:
    """Sparse softmax cross-entropy from logits."""

    name = "sparse_categorical_crossentropy"

    def __call__(self, y_true, y_pred, sample_weight=None):
        labels = np.asarray(y_true).astype(np.int64).reshape(len(y_pred.data))
        if sample_weight is None:
            return ops.softmax_cross_entropy(y_pred, labels)
        per = ops.softmax_cross_entropy(y_pred, labels, reduction="none")
        w = np.asarray(sample_weight, y_pred.dtype)
        return (per * w).sum() / float(len(w))


class Accuracy:
    """A stateful sparse accuracy metric (``update_state`` / ``result`` / ``reset_state``)."""

    _direction = "up"

    def __init__(self, name="accuracy"):
        self.name = name
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = np.asarray(y_true)
        labels = np.argmax(y_true, -1) if y_true.ndim > 1 and y_true.shape[-1] > 1 else y_true
        hits = np.argmax(y_pred, axis=-1) == labels.reshape(len(y_pred))
        w = np.ones(len(hits)) if sample_weight is None else np.asarray(sample_weight)
        self.total += float((hits * w).sum())
        self.count += float(w.sum())

    def result(self):
        return self.total / self.count if self.count else 0.0

    def reset_state(self):
        self.total = self.count = 0.0


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
    return MSE()


@pytest.fixture
def sparse_ce():
    return SparseCE()


@pytest.fixture
def accuracy():
    return Accuracy
