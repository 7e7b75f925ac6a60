"""Add and Concatenate: layers called on a list of inputs.

check_layer feeds one array, so these layers are tested directly: eager and symbolic
calls, float64 gradient checks per input (also with an input frozen), trainable,
config round trips and the shape errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers
from pyfrozen.autograd import gradcheck, trace


def _arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def _check_gradients(layer, arrays):
    """gradcheck with every input trainable, then with each one frozen in turn."""
    for frozen in (None, *range(len(arrays))):
        ts = [pyfrozen.tensor(a, requires_grad=i != frozen) for i, a in enumerate(arrays)]
        assert gradcheck(lambda *xs: layer(list(xs)), ts)


# ---------------------------------------------------------------------------------------
# Add
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shapes", "out"), [
    ([(2, 3), (2, 3)], (2, 3)),
    ([(2, 3, 4), (2, 3, 4), (2, 3, 4)], (2, 3, 4)),
    ([(2, 1, 4), (2, 3, 1)], (2, 3, 4)),
    ([(2, 5)], (2, 5)),
])
def test_add_eager_symbolic_and_gradients(shapes, out):
    arrays = _arrays(*shapes)
    y = layers.Add()(arrays)
    assert y.shape == out and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), sum(arrays), rtol=1e-6, atol=1e-6)
    symbolic = layers.Add()([layers.Input(s[1:]) for s in shapes])
    assert symbolic.shape == (None, *out[1:])
    _check_gradients(layers.Add(dtype="float64"), arrays)


def test_add_build_receives_a_list_of_shapes():
    layer = layers.Add()
    layer([layers.Input((3,)), layers.Input((3,))])
    assert layer.built and layer._build_shape == [(None, 3), (None, 3)]
    eager = layers.Add()
    eager([np.ones((2, 3)), np.ones((2, 3))])
    assert eager._build_shape == [(2, 3), (2, 3)]


def test_add_unknown_dimensions_in_symbolic_shapes():
    a, b = layers.Input((None, 4)), layers.Input((5, 4))
    assert layers.Add()([a, b]).shape == (None, None, 4)
    assert layers.Add()([layers.Input((1, 4)), b]).shape == (None, 5, 4)


@pytest.mark.parametrize(("inputs", "match"), [
    (lambda: np.ones((2, 3)), r"should be called on a list of inputs. Received: "
                              r"input_shape=\(2, 3\)"),
    (lambda: [], "at least 1 input"),
    (lambda: [np.ones((2, 3)), np.ones((2, 4))],
     r"incompatible shapes. Received shapes \[\(2, 3\), \(2, 4\)\]"),
    (lambda: [np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 2))],
     r"\[\(2, 3\), \(2, 3\), \(2, 2\)\]"),
    (lambda: [np.ones((2, 3)), np.ones((2, 1, 3))], r"same rank.*\[\(2, 3\), \(2, 1, 3\)\]"),
    (lambda: [layers.Input((3,)), layers.Input((4,))], r"\[\(None, 3\), \(None, 4\)\]"),
])
def test_add_shape_errors(inputs, match):
    with pytest.raises(ValueError, match=match):
        layers.Add()(inputs())


def test_add_checks_shapes_on_every_call():
    layer = layers.Add()
    layer([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"\[\(2, 3\), \(2, 4\)\]"):
        layer([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="list of inputs"):
        layer(np.ones((2, 3)))


# ---------------------------------------------------------------------------------------
# Concatenate
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("axis", "shapes", "out"), [
    (-1, [(2, 3), (2, 4)], (2, 7)),
    (-1, [(2, 2, 2, 1), (2, 2, 2, 3), (2, 2, 2, 2)], (2, 2, 2, 6)),
    (1, [(2, 1, 3), (2, 2, 3)], (2, 3, 3)),
    (-2, [(1, 2, 3), (1, 4, 3)], (1, 6, 3)),
    (-1, [(3, 2)], (3, 2)),
])
def test_concatenate_eager_symbolic_and_gradients(axis, shapes, out):
    arrays = _arrays(*shapes)
    y = layers.Concatenate(axis=axis)(arrays)
    assert y.shape == out
    np.testing.assert_array_equal(y.numpy(), np.concatenate(arrays, axis=axis).astype(np.float32))
    symbolic = layers.Concatenate(axis=axis)([layers.Input(s[1:]) for s in shapes])
    assert symbolic.shape == (None, *out[1:])
    _check_gradients(layers.Concatenate(axis=axis, dtype="float64"), arrays)


def test_concatenate_unknown_dimensions():
    a, b = layers.Input((None, 3)), layers.Input((4, 2))
    assert layers.Concatenate()([a, b]).shape == (None, 4, 5)
    assert layers.Concatenate(axis=1)([a, layers.Input((4, 3))]).shape == (None, None, 3)


def test_concatenate_casts_inputs_to_its_dtype():
    y = layers.Concatenate()([np.ones((1, 2), np.float64), np.ones((1, 1), np.float32)])
    assert y.dtype == np.float32


@pytest.mark.parametrize(("axis", "inputs", "match"), [
    (-1, lambda: np.ones((2, 3)), "Concatenate` layer should be called on a list of inputs"),
    (-1, lambda: [], "at least 1 input"),
    (-1, lambda: [np.ones((2, 3)), np.ones((3, 4))],
     r"matching shapes except for the concatenation axis \(axis=-1\). "
     r"Received: input_shape=\[\(2, 3\), \(3, 4\)\]"),
    (1, lambda: [layers.Input((2, 3)), layers.Input((2, 4))],
     r"\[\(None, 2, 3\), \(None, 2, 4\)\]"),
    (-1, lambda: [np.ones((2, 3)), np.ones((2, 3, 1))], "same rank"),
    (2, lambda: [np.ones((2, 3)), np.ones((2, 3))], r"axis=2 is out of range.*rank 2"),
])
def test_concatenate_shape_errors(axis, inputs, match):
    with pytest.raises(ValueError, match=match):
        layers.Concatenate(axis=axis)(inputs())


def test_concatenate_axis_must_be_an_int():
    with pytest.raises(ValueError, match="axis.*must be an int. Received: axis='1'"):
        layers.Concatenate(axis="1")


# ---------------------------------------------------------------------------------------
# Both
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [layers.Add, lambda **kw: layers.Concatenate(axis=1, **kw)])
def test_config_round_trip_and_no_weights(make):
    layer = make(name="merge_me")
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config and clone.name == "merge_me"
    layer([np.ones((1, 2)), np.ones((1, 2))])
    assert layer.weights == [] and layer.count_params() == 0


@pytest.mark.parametrize("make", [layers.Add, layers.Concatenate])
def test_freezing_changes_nothing_and_gradients_pass(make):
    a, b = _arrays((2, 3), (2, 3), seed=4)
    grads = []
    for trainable in (True, False):
        ta = pyfrozen.tensor(a, requires_grad=True)
        tb = pyfrozen.tensor(b, requires_grad=True)
        layer = make(dtype="float64", trainable=trainable)
        assert layer.trainable is trainable and layer.trainable_weights == []
        y = layer([ta, tb])
        y.backward(np.linspace(0, 1, y.size).reshape(y.shape))
        grads.append((ta.grad.numpy(), tb.grad.numpy()))
    for g_true, g_false in zip(grads[0], grads[1], strict=True):
        np.testing.assert_array_equal(g_true, g_false)
    with trace() as tr:
        make(dtype="float64")([pyfrozen.tensor(a), pyfrozen.tensor(b)])
    assert tr.nodes == 0


def test_default_names():
    assert layers.Add().name.startswith("add")
    assert layers.Concatenate().name.startswith("concatenate")



def test_a_list_of_number_lists_stays_a_list_of_inputs():
    # Other layers take a nested list of numbers as one array (Keras); merging layers take a
    # list of inputs, so for them each inner list is one input.
    np.testing.assert_array_equal(layers.Add()([[1.0, 2.0], [3.0, 4.0]]).data, [4.0, 6.0])
    assert layers.Concatenate()([[[1.0]], [[2.0, 3.0]]]).shape == (1, 3)
