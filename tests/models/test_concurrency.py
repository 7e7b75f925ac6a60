"""Two Python threads using pyfrozen at once get the serial results, bit for bit.

Grad mode, the inherited ``training`` value and layer scopes are per thread: one thread
training model A (recording on, BatchNormalization on batch statistics) while another
predicts with model B (``no_grad``, inference mode) must not switch the other's
recording off, nor run B's BatchNormalization in training mode and move its moving
statistics. The reference is the same work done serially in one thread.
"""

from __future__ import annotations

import sys
import threading

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
    Input,
    ReLU,
)
from pyfrozen.models import Model

STEPS = 12
PREDICTIONS = 40


def small_cnn(seed: int) -> Model:
    inputs = Input((8, 8, 3))
    x = Conv2D(8, 3, padding="same", use_bias=False)(inputs)
    x = BatchNormalization()(x)
    x = ReLU()(x)
    x = DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = BatchNormalization()(x)
    x = ReLU()(x)
    model = Model(inputs, Dense(4)(GlobalAveragePooling2D()(x)))
    rng = np.random.default_rng(seed)
    # Distinct moving statistics, so inference and training mode give different outputs.
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) * 0.3
                       + (0.5 if "variance" in w.name else 0.0) for w in model.weights])
    for w in model.weights:
        if "variance" in w.name:
            w.data[...] = np.abs(w.data) + 0.5
    return model


def data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(16, 8, 8, 3)).astype(np.float32), rng.integers(0, 4, 16)


def train(model: Model, x: np.ndarray, y: np.ndarray, barrier: threading.Barrier | None
          ) -> list[np.ndarray]:
    if barrier is not None:
        barrier.wait()
    for _ in range(STEPS):
        loss = ops.softmax_cross_entropy(model(x, training=True), y)
        loss.backward()
        with pyfrozen.no_grad():
            for p in model.trainable_weights:
                _core.sgd_update(p.data, p.grad.data, learning_rate=0.05)
                p._bump_version()
                p.grad = None
    return model.get_weights()


def predict(model: Model, x: np.ndarray, barrier: threading.Barrier | None
            ) -> list[np.ndarray]:
    if barrier is not None:
        barrier.wait()
    outputs = []
    for i in range(PREDICTIONS):
        if i % 2:
            outputs.append(model.predict(x, batch_size=8))
        else:
            with pyfrozen.no_grad():  # a plain call inherits no training value
                outputs.append(model(x).data.copy())
    return outputs


@pytest.fixture
def fast_switching():
    # Hand the GIL over every few microseconds, so the two threads interleave inside
    # layer calls, not only between them (kernels release the GIL anyway).
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.parametrize("trainer_thread", ["worker", "main"])
def test_training_and_predicting_at_once_give_the_serial_results(trainer_thread,
                                                                 fast_switching):
    x_train, y_train = data(1)
    x_pred, _ = data(2)
    a, b = small_cnn(10), small_cnn(20)
    a_start, b_start = a.get_weights(), b.get_weights()
    serial_weights = train(a, x_train, y_train, None)
    serial_predictions = predict(b, x_pred, None)
    assert all(np.array_equal(p, serial_predictions[0]) for p in serial_predictions)
    a.set_weights(a_start)

    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def run(name, fn, *args):
        try:
            results[name] = fn(*args, barrier)
        except BaseException as error:  # reported by the main thread below
            results[name] = error

    jobs = {"train": (train, a, x_train, y_train), "predict": (predict, b, x_pred)}
    worker_job = "train" if trainer_thread == "worker" else "predict"
    main_job = "predict" if worker_job == "train" else "train"
    worker = threading.Thread(target=run, args=(worker_job, *jobs[worker_job]))
    worker.start()
    run(main_job, *jobs[main_job])
    worker.join(timeout=120)
    assert not worker.is_alive()
    for name, value in results.items():
        if isinstance(value, BaseException):
            raise AssertionError(f"the {name} thread raised") from value

    for got, want in zip(results["train"], serial_weights, strict=True):
        assert np.array_equal(got, want)
    for got in results["predict"]:
        assert np.array_equal(got, serial_predictions[0])
    for got, want in zip(b.get_weights(), b_start, strict=True):
        assert np.array_equal(got, want)  # B's moving statistics never moved
