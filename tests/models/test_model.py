"""Model: nesting, cutting, predict, input checks (Sequential, summary, weight files and the
graph have their own test files)."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import trace
from pyfrozen.layers import Dense, Input
from pyfrozen.models import Model, Sequential


def mlp(name=None):
    return Sequential([Input((4,)), Dense(8, activation="relu", name="hidden"),
                       Dense(3, name="out")], name=name)


def test_predict_is_batched_tape_free_and_equals_a_call():
    model = mlp()
    x = np.random.default_rng(0).standard_normal((70, 4)).astype(np.float32)
    with trace() as t:
        out = model.predict(x, batch_size=32)
    assert t.nodes == 0 and out.shape == (70, 3)
    np.testing.assert_array_equal(out, model(x).data)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        model.predict(x, batch_size=0)


def test_predict_on_no_samples_gives_empty_outputs():
    model = Sequential([Input((6, 6, 2)), pyfrozen.layers.Conv2D(3, 3),
                        pyfrozen.layers.BatchNormalization(),
                        pyfrozen.layers.GlobalAveragePooling2D(), Dense(4)])
    assert model.predict(np.ones((0, 6, 6, 2))).shape == (0, 4)


def test_nested_frozen_base_and_cut_model():
    base = mlp("base")
    base.trainable = False
    inp = Input((4,))
    features = base(inp, training=False)
    model = Model(inp, Dense(5, name="head")(features))
    assert [w.name for w in model.trainable_weights] == ["kernel", "bias"]
    x = pyfrozen.tensor(np.ones((2, 4), np.float32))
    with trace() as t:
        model(x, training=True).backward(np.ones((2, 5), np.float32))
    assert {r.pass_ for r in t.ran(layer="hidden")} == {"forward"}  # no backward at all
    assert base.get_layer("hidden").kernel.grad is None
    cut = Model(base.inputs, base.get_layer("hidden").output)
    np.testing.assert_array_equal(cut.predict(x.data), base.get_layer("hidden")(x).data)
    with pytest.raises(ValueError, match="No such layer: nope"):
        model.get_layer("nope")


def test_model_errors():  # graph disconnection: test_graph.py; arithmetic: test_symbolic.py
    x = Input((2,))
    with pytest.raises(ValueError, match='The name "same" is used 2 times'):
        Model(x, Dense(1, name="same")(Dense(2, name="same")(x)))
    model = Model(x, Dense(1)(x))
    with pytest.raises(ValueError, match=r"expects shape \(None, 2\), received \(3, 5\)"):
        model(np.ones((3, 5)))


def test_a_nested_list_is_one_input_for_a_one_input_model():
    model = mlp()
    rows = [[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5]]
    np.testing.assert_array_equal(model.predict(rows), model.predict(np.asarray(rows)))
    assert model(rows).shape == (2, 3)
    assert model.predict([np.asarray(rows, np.float32)]).shape == (2, 3)


def test_changing_the_input_array_after_forward_keeps_the_gradient(rng):
    # A reused batch buffer refilled (or a prefetching thread writing into it) between
    # forward and backward used to change the gradient silently (off by up to 57).
    model = mlp()
    x = rng.standard_normal((6, 4)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2])

    def kernel_gradients(batch, change=None):
        for w in model.trainable_weights:
            w.grad = None
        loss = pyfrozen.ops.softmax_cross_entropy(model(batch, training=True), labels)
        if change is not None:
            change(batch)
        loss.backward()
        return [w.grad.data.copy() for w in model.trainable_weights]

    expected = kernel_gradients(x.copy())
    got = kernel_gradients(x, lambda buffer: buffer.__setitem__(..., 57.0))
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("dtype", [np.float64, np.uint8, np.int64, np.bool_])
def test_inputs_of_any_numeric_dtype_are_cast_to_the_input_dtype(rng, dtype):
    model = mlp()
    x = rng.integers(0, 2, (3, 4))
    y = model(x.astype(dtype))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, model(x.astype(np.float32)).data)
