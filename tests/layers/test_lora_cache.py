"""Inference of LoRA layers from the cached merged kernel (pyfrozen.layers.lora): predict
costs what a plain layer costs, and the cache follows every change of W, A and B."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import enable_grad, no_grad, trace
from pyfrozen.layers import Conv2D, Dense, DepthwiseConv2D, Input

CASES = {
    "dense": (lambda: Dense(5, activation="relu"), (4, 6), "dense"),
    "conv2d": (lambda: Conv2D(4, 3, strides=2, padding="same", activation="relu6"),
               (2, 7, 7, 3), "conv2d"),
    "depthwise": (lambda: DepthwiseConv2D(3, padding="same", depth_multiplier=2,
                                          activation="tanh"), (2, 6, 6, 3), "depthwise_conv2d"),
}


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _model(case, lora=True):
    make, shape, _ = CASES[case]
    inputs = Input(shape[1:])
    layer = make()
    model = pyfrozen.Model(inputs, layer(inputs))
    if lora:
        layer.enable_lora(2, lora_alpha=3.0, b_initializer="random_normal")
    return model, layer


def _factored(layer, x):
    """The training path's output (recording on, the adapter trainable)."""
    with enable_grad():
        return layer(x).numpy()


def _forward_kernels(run):
    with trace() as t:
        run()
    return [(r.op, r.kernel, r.work) for r in t.kernels]


@pytest.mark.parametrize("case", sorted(CASES))
def test_predict_runs_one_kernel_of_a_plain_layer_and_matches_the_factored_output(case):
    model, layer = _model(case)
    x = _x(CASES[case][1], 1)
    expected = _factored(layer, x)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    plain, _ = _model(case, lora=False)
    with no_grad():
        ours = _forward_kernels(lambda: layer(x))
        theirs = _forward_kernels(lambda: plain.layers[-1](x))
    assert ours == theirs  # the plain layer's kernel, same work: no adapter op
    assert {op for op, _, _ in ours} == {CASES[case][2]}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_cache_follows_a_training_step_set_weights_and_an_assign(case):
    model, layer = _model(case)
    x = _x(CASES[case][1], 2)

    def check():
        np.testing.assert_allclose(model.predict(x, verbose=0), _factored(layer, x),
                                   rtol=1e-5, atol=1e-5)

    check()  # fills the cache
    model.compile(pyfrozen.optimizers.SGD(0.1), "mse")
    model.train_on_batch(x, _x(layer(x).shape, 3))
    check()
    model.set_weights([w + 0.25 for w in model.get_weights()])
    check()
    a, b = layer._lora_adapters()
    with no_grad():
        a.copy_(_x(a.shape, 4))
    check()
    with no_grad():
        b[...] = 0.5
    check()
    with no_grad():
        getattr(layer, layer._lora_base).fill_(0.1)
    check()


def test_a_frozen_adapter_uses_the_merged_kernel_while_layers_below_train():
    inputs = Input((6,))
    below = Dense(6, name="below")
    adapted = Dense(4, name="adapted")
    model = pyfrozen.Model(inputs, adapted(below(inputs)))
    adapted.enable_lora(2, b_initializer="random_normal")
    x = pyfrozen.tensor(_x((3, 6), 5))
    factored = _factored(adapted, below(x))
    adapted.trainable = False
    with trace() as t:
        y = model(x)
    y.sum().backward()
    assert {r.op for r in t.kernels} == {"dense"} and len(t.layers()) == 2
    np.testing.assert_allclose(y.numpy(), factored, rtol=1e-5, atol=1e-5)
    assert below.kernel.grad is not None and adapted.lora_kernel_a.grad is None


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_merged_kernel_is_formed_once_per_change_of_the_weights(case, monkeypatch):
    model, layer = _model(case)
    formed = []
    merge = type(layer).merged_kernel

    def counting(self):
        formed.append(self.name)
        return merge(self)

    monkeypatch.setattr(type(layer), "merged_kernel", counting)
    x = _x(CASES[case][1], 10)
    first = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), first)
    with no_grad():
        layer(x)
    assert formed == [layer.name]  # one kernel for the three inference calls
    model.compile(pyfrozen.optimizers.SGD(0.1), "mse")
    model.train_on_batch(x, _x(first.shape, 11))
    assert formed == [layer.name]  # training never forms it
    second = model.predict(x, verbose=0)
    model.predict(x, verbose=0)
    assert formed == [layer.name] * 2  # once more after the step, then reused
    assert not np.array_equal(second, first)


@pytest.mark.parametrize("case", sorted(CASES))
def test_training_steps_drop_the_kernel_validation_cached(case):
    """fit's validation fills the cache; the training steps after it hold no stale
    kernel-sized array (it could never be used again)."""
    model, layer = _model(case)
    shape = CASES[case][1]
    x, y = _x(shape, 8), _x(layer(_x(shape)).shape, 9)
    model.compile(pyfrozen.optimizers.SGD(0.1), "mse")
    model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0)
    assert layer._lora_cache is not None  # validation ran last
    model.train_on_batch(x, y)
    assert layer._lora_cache is None
    model.fit(x, y, epochs=1, verbose=0)
    assert layer._lora_cache is None


def test_merge_lora_drops_the_cache():
    model, layer = _model("dense")
    model.predict(_x((4, 6)), verbose=0)
    assert layer._lora_cache is not None
    layer.merge_lora()
    assert layer._lora_cache is None


def test_a_thread_predicting_while_another_trains_leaves_both_serial():
    """Training is bit-identical to a run without the predicting thread, and a predict
    after both threads finish sees the final weights (the cache is never left stale)."""
    x, y = _x((32, 6), 6), _x((32, 5), 7)

    def fresh():
        model, layer = _model("dense")
        model.set_weights([np.linspace(-1, 1, w.size).reshape(w.shape)
                           for w in model.get_weights()])
        model.compile(pyfrozen.optimizers.Adam(0.01), "mse")
        return model, layer

    serial, _ = fresh()
    for _ in range(20):
        serial.train_on_batch(x, y)

    model, layer = fresh()
    done = threading.Event()
    errors = []

    def train():
        try:
            for _ in range(20):
                model.train_on_batch(x, y)
        except Exception as err:  # reported below, not lost in the thread
            errors.append(err)
        finally:
            done.set()

    def predict():
        try:
            while not done.is_set():
                assert np.isfinite(model.predict(x, verbose=0)).all()
        except Exception as err:
            errors.append(err)

    threads = [threading.Thread(target=train), threading.Thread(target=predict)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for mine, theirs in zip(model.get_weights(), serial.get_weights(), strict=True):
        assert mine.tobytes() == theirs.tobytes()
    np.testing.assert_allclose(model.predict(x, verbose=0), _factored(layer, x),
                               rtol=1e-5, atol=1e-5)
