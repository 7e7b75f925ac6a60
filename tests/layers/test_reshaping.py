"""Flatten and Reshape."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers
from pyfrozen.autograd import trace
from pyfrozen.testing import check_layer


@pytest.mark.parametrize(("shape", "out"), [
    ((2, 3, 4, 2), (2, 24)),
    ((3, 5), (3, 5)),
    ((2, 1, 1, 4), (2, 4)),
    ((4,), (4, 1)),
])
def test_flatten(shape, out):
    report = check_layer(layers.Flatten, {}, shape, expected_output_shape=out,
                         expected_num_trainable_weights=0, expected_num_params=0)
    x = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_array_equal(report.output, x.reshape(out).astype(np.float32))


@pytest.mark.parametrize(("target", "shape", "out"), [
    ((3, 4), (2, 12), (2, 3, 4)),
    ((-1,), (2, 3, 4), (2, 12)),
    ((2, -1, 3), (1, 4, 3), (1, 2, 2, 3)),
    ([6], (2, 2, 3), (2, 6)),
    (6, (2, 2, 3), (2, 6)),
])
def test_reshape(target, shape, out):
    report = check_layer(layers.Reshape, {"target_shape": target}, shape,
                         expected_output_shape=out, expected_num_trainable_weights=0)
    x = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_array_equal(report.output, x.reshape(out).astype(np.float32))


def test_symbolic_shapes():
    x = layers.Input((None, 3))
    assert layers.Flatten()(x).shape == (None, None)
    assert layers.Reshape((-1, 3))(x).shape == (None, None, 3)
    assert layers.Reshape((3, -1))(layers.Input((4, 3))).shape == (None, 3, 4)
    assert layers.Flatten()(layers.Input((2, 3, 4))).shape == (None, 24)


def test_integer_inputs_keep_their_dtype():
    ids = layers.Input((2, 3), dtype="int32")
    flat = layers.Flatten()(ids)
    assert flat.dtype == "int32" and layers.Reshape((3, 2))(ids).dtype == "int32"
    y = layers.Flatten()(np.arange(6, dtype=np.int32).reshape(1, 2, 3))
    assert y.dtype == np.int32
    table_rows = layers.Embedding(6, 2)(flat)
    assert table_rows.shape == (None, 6, 2)


def test_config():
    assert layers.Reshape([2, -1]).get_config()["target_shape"] == (2, -1)
    assert layers.Flatten().get_config()["data_format"] == "channels_last"
    assert layers.Flatten().name.startswith("flatten")


@pytest.mark.parametrize(("target", "match"), [
    ((-1, -1), r"at most one unknown dimension.*target_shape=\(-1, -1\)"),
    ((0, 3), r"positive integers.*target_shape=\(0, 3\)"),
    ((2, -2), "positive integers"),
    ((2.0, 3), "tuple of integers. Received: target_shape=\\(2.0, 3\\)"),
    ("3", "tuple of integers"),
])
def test_reshape_argument_errors(target, match):
    with pytest.raises(ValueError, match=match):
        layers.Reshape(target)


def test_reshape_size_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"input_shape=\(2, 12\).*target_shape=\(5, -1\)"):
        layers.Reshape((5, -1))(np.zeros((2, 12)))
    with pytest.raises(ValueError, match=r"input_shape=\(None, 12\).*target_shape=\(3, 3\)"):
        layers.Reshape((3, 3))(layers.Input((12,)))
    layer = layers.Reshape((3, 4))
    layer(np.zeros((1, 12)))  # built; a later call with another size still checks
    with pytest.raises(ValueError, match=r"\(1, 10\).*\(3, 4\)"):
        layer(np.zeros((1, 10)))


def test_flatten_argument_errors():
    with pytest.raises(ValueError, match="channels_first.*not supported"):
        layers.Flatten(data_format="channels_first")


@pytest.mark.parametrize("make", [layers.Flatten, lambda **kw: layers.Reshape((-1, 2), **kw)])
def test_freezing_changes_nothing_and_gradients_pass(make):
    data = np.random.default_rng(1).standard_normal((2, 2, 3, 2))
    for trainable in (True, False):
        x = pyfrozen.tensor(data, requires_grad=True)
        y = make(dtype="float64", trainable=trainable)(x)
        y.backward(np.arange(y.size, dtype=np.float64).reshape(y.shape))
        np.testing.assert_array_equal(x.grad.numpy(), np.arange(data.size).reshape(data.shape))
    with trace() as tr:
        y = make(dtype="float64")(pyfrozen.tensor(data))
    assert tr.nodes == 0 and tr.saved_bytes == 0

