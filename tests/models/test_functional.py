"""Functional models with several inputs and outputs, built with Add and Concatenate."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import gradcheck, trace
from pyfrozen.layers import Add, Concatenate, Dense, Dropout, Flatten, Input, ReLU
from pyfrozen.models import Model


def two_tower(dtype="float32"):
    """Two inputs -> a Dense each -> Concatenate -> Dense; outputs: the head and a side Dense."""
    a = Input((3,), name="in_a", dtype=dtype)
    b = Input((2,), name="in_b", dtype=dtype)
    xa = Dense(4, activation="relu", name="tower_a", dtype=dtype)(a)
    xb = Dense(3, activation="tanh", name="tower_b", dtype=dtype)(b)
    merged = Concatenate(name="merged", dtype=dtype)([xa, xb])
    head = Dense(2, name="head", dtype=dtype)(merged)
    side = Dense(1, name="side", dtype=dtype)(xb)
    return Model([a, b], [head, side], name="two_tower")


def _data(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)), rng.standard_normal((n, 2))


def _by_hand(model, xa, xb):
    """The same computation in numpy, from the model's weights."""
    def dense(name, x):
        layer = model.get_layer(name)
        return x @ layer.kernel.numpy() + layer.bias.numpy()

    ta = np.maximum(dense("tower_a", xa), 0)
    tb = np.tanh(dense("tower_b", xb))
    return dense("head", np.concatenate([ta, tb], axis=-1)), dense("side", tb)


def test_symbolic_shapes_layers_and_counts():
    model = two_tower()
    assert [t.shape for t in model.inputs] == [(None, 3), (None, 2)]
    assert [t.shape for t in model.outputs] == [(None, 2), (None, 1)]
    assert model.get_layer("merged").output.shape == (None, 7)
    names = [layer.name for layer in model.layers]
    assert names[:2] == ["in_a", "in_b"]
    assert set(names) == {"in_a", "in_b", "tower_a", "tower_b", "merged", "head", "side"}
    assert model.count_params() == (3 * 4 + 4) + (2 * 3 + 3) + (7 * 2 + 2) + (3 + 1)
    assert len(model.trainable_weights) == 8


def test_call_and_predict_with_lists():
    model = two_tower("float64")
    xa, xb = _data(7)
    head, side = model([xa, xb])
    want_head, want_side = _by_hand(model, xa, xb)
    np.testing.assert_allclose(head.numpy(), want_head, rtol=1e-12)
    np.testing.assert_allclose(side.numpy(), want_side, rtol=1e-12)
    predicted = model.predict([xa, xb], batch_size=3)  # batches of 3, 3 and 1
    assert isinstance(predicted, list) and len(predicted) == 2
    np.testing.assert_allclose(predicted[0], want_head, rtol=1e-12)
    np.testing.assert_allclose(predicted[1], want_side, rtol=1e-12)


def test_predict_errors():
    model = two_tower()
    xa, xb = _data(4)
    with pytest.raises(ValueError, match="expects 2 input"):
        model.predict(xa)
    with pytest.raises(ValueError, match="different batch sizes"):
        model.predict([xa, xb[:3]])
    with pytest.raises(ValueError, match=r"expects shape \(None, 2\), received \(4, 3\)"):
        model.predict([xa, xa])


def test_get_layer_by_name_and_index():
    model = two_tower()
    assert isinstance(model.get_layer("merged"), Concatenate)
    assert model.get_layer(index=0).name == "in_a"
    with pytest.raises(ValueError, match="No such layer: nope.*merged"):
        model.get_layer("nope")


def test_model_cut_at_a_named_intermediate_layer():
    base = two_tower("float64")
    cut = Model(base.inputs, base.get_layer("merged").output)
    assert cut.outputs[0].shape == (None, 7)
    assert {layer.name for layer in cut.layers} == {"in_a", "in_b", "tower_a", "tower_b",
                                                    "merged"}
    xa, xb = _data(3)
    features = cut.predict([xa, xb])
    ta = np.maximum(xa @ base.get_layer("tower_a").kernel.numpy()
                    + base.get_layer("tower_a").bias.numpy(), 0)
    assert features.shape == (3, 7)
    np.testing.assert_allclose(features[:, :4], ta, rtol=1e-12)
    # The cut shares the base's layers: weights are the same objects.
    assert cut.get_layer("tower_b") is base.get_layer("tower_b")
    # A one-input cut of a two-input model: only tower_b's branch.
    branch = Model(base.inputs[1], base.get_layer("side").output)
    np.testing.assert_allclose(branch.predict(xb), base.predict([xa, xb])[1], rtol=1e-12)


def test_gradients_reach_both_towers_through_concatenate():
    model = two_tower("float64")
    xa, xb = _data(4, seed=1)
    weights = model.trainable_weights

    def loss(*ws):
        head, side = model([xa, xb], training=True)
        return head.sum() + (side * side).sum()

    assert gradcheck(loss, weights)
    out = loss()
    out.backward()
    assert all(w.grad is not None for w in weights)


def test_inputs_get_gradients_through_add_and_concatenate():
    a, b = Input((3,), dtype="float64"), Input((3,), dtype="float64")
    ta = pyfrozen.tensor(np.ones((2, 3)), requires_grad=True)
    tb = pyfrozen.tensor(np.ones((2, 3)), requires_grad=True)
    model = Model([a, b], Concatenate(dtype="float64")([Add(dtype="float64")([a, b]), b]))
    model([ta, tb]).backward(np.ones((2, 6)))
    np.testing.assert_array_equal(ta.grad.numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(tb.grad.numpy(), np.full((2, 3), 2.0))


def test_freezing_one_tower():
    model = two_tower("float64")
    model.get_layer("tower_a").trainable = False
    xa, xb = _data(4)
    with trace() as tr:
        head, side = model([xa, xb], training=True)
        (head.sum() + side.sum()).backward()
    assert model.get_layer("tower_a").kernel.grad is None
    assert model.get_layer("tower_b").kernel.grad is not None
    assert not tr.ran(layer="tower_a", pass_="backward_weight")
    assert tr.ran(layer="tower_b", pass_="backward_weight")
    assert len(model.trainable_weights) == 6
    summary = model.summary(print_fn=lambda _: None)
    assert summary.non_trainable_params == 3 * 4 + 4
    assert summary.total_params == model.count_params()


def test_residual_block_with_add():
    inputs = Input((4,), dtype="float64")
    x = Dense(4, name="inner", dtype="float64")(inputs)
    x = ReLU(dtype="float64")(x)
    x = Add(name="residual", dtype="float64")([inputs, x])
    model = Model(inputs, Dense(1, dtype="float64")(Dropout(0.5)(x)))
    data = np.random.default_rng(3).standard_normal((6, 4))
    inner = model.get_layer("inner")
    hidden = np.maximum(data @ inner.kernel.numpy() + inner.bias.numpy(), 0) + data
    cut = Model(model.inputs, model.get_layer("residual").output)
    np.testing.assert_allclose(cut.predict(data), hidden, rtol=1e-12)
    assert model.predict(data).shape == (6, 1)


def test_multi_input_model_nested_in_another():
    base = two_tower()
    base.trainable = False
    a, b = Input((3,)), Input((2,))
    head, _ = base([a, b], training=False)
    outer = Model([a, b], Dense(5, name="new_head")(Flatten()(head)))
    assert outer.outputs[0].shape == (None, 5)
    assert [w.name for w in outer.trainable_weights] == ["kernel", "bias"]
    xa, xb = _data(2)
    np.testing.assert_allclose(outer.predict([xa, xb]).shape, (2, 5))
