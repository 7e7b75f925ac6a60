"""Activation, ReLU and Softmax layers."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers
from pyfrozen.autograd import trace
from pyfrozen.testing import check_layer


def _away_from_kinks(shape, seed=0, scale=4.0):
    """Random values at least 0.05 from relu's kink at 0 and relu6's at 6."""
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    for kink in (0.0, 6.0):
        near = np.abs(x - kink) < 0.05
        x[near] = kink + 0.1
    return x


@pytest.mark.parametrize("name", ["relu", "relu6", "sigmoid", "tanh", "softmax", "log_softmax",
                                  "linear", None])
def test_activation_by_name(name):
    x = _away_from_kinks((2, 5))
    report = check_layer(layers.Activation, {"activation": name}, x.shape, input_data=x,
                         expected_output_shape=(2, 5), expected_num_trainable_weights=0,
                         expected_num_params=0)
    fn = pyfrozen.layers.activations.get(name)
    np.testing.assert_allclose(report.output, fn(pyfrozen.tensor(x.astype(np.float32))).numpy(),
                               rtol=1e-6)
    assert report.layer.get_config()["activation"] == (name or "linear")


def test_activation_with_a_callable():
    def double(t):
        return t * 2.0

    layer = layers.Activation(double)
    assert layer.get_config()["activation"] is double
    check_layer(layers.Activation, {"activation": double}, (2, 3), expected_output_shape=(2, 3))


def test_activation_unknown_name():
    with pytest.raises(ValueError, match="Unknown activation: 'swishy'"):
        layers.Activation("swishy")


@pytest.mark.parametrize(("kwargs", "want"), [
    ({}, lambda x: np.maximum(x, 0)),
    ({"max_value": 6}, lambda x: np.clip(x, 0, 6)),
    ({"max_value": 6.0, "negative_slope": 0, "threshold": 0.0}, lambda x: np.clip(x, 0, 6)),
    ({"max_value": None}, lambda x: np.maximum(x, 0)),
])
def test_relu(kwargs, want):
    x = _away_from_kinks((3, 2, 4))
    report = check_layer(layers.ReLU, kwargs, x.shape, input_data=x,
                         expected_output_shape=x.shape, expected_num_trainable_weights=0)
    np.testing.assert_array_equal(report.output, want(x).astype(np.float32))


def test_relu_config_and_name():
    layer = layers.ReLU(6)
    assert layer.get_config()["max_value"] == 6.0
    assert layer.get_config()["negative_slope"] == 0.0 and layer.get_config()["threshold"] == 0.0
    assert layers.ReLU().name.startswith("re_lu")
    assert layers.ReLU.from_config(layer.get_config()).max_value == 6.0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"max_value": -1.0}, "max_value of a ReLU layer cannot be a negative value. "
                          "Received: max_value=-1.0"),
    ({"negative_slope": -0.1}, "negative_slope of a ReLU layer cannot be a negative value"),
    ({"threshold": None}, "threshold of a ReLU layer cannot be a negative value. "
                          "Received: threshold=None"),
    ({"max_value": "6"}, "max_value"),
    ({"max_value": 3.0}, r"ReLU\(max_value=3.0, .*\) is not supported.*None \(relu\) or 6"),
    ({"negative_slope": 0.2}, "negative_slope=0.2.*not supported"),
    ({"threshold": 1.0}, "threshold=1.0.*not supported"),
    ({"max_value": 6, "threshold": 0.5}, "not supported"),
])
def test_relu_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.ReLU(**kwargs)


@pytest.mark.parametrize(("axis", "shape"), [(-1, (2, 5)), (1, (2, 3, 4)), (0, (3, 2))])
def test_softmax(axis, shape):
    report = check_layer(layers.Softmax, {"axis": axis}, shape, expected_output_shape=shape,
                         expected_num_trainable_weights=0)
    x = np.random.default_rng(0).standard_normal(shape)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    np.testing.assert_allclose(report.output, e / e.sum(axis=axis, keepdims=True), rtol=1e-5)


def test_matches_torch(torch):
    x = _away_from_kinks((2, 3, 4), seed=3)
    xt = torch.tensor(x)
    np.testing.assert_allclose(layers.ReLU(6, dtype="float64")(x).numpy(),
                               torch.nn.functional.relu6(xt).numpy())
    np.testing.assert_allclose(layers.Softmax(axis=1, dtype="float64")(x).numpy(),
                               torch.softmax(xt, dim=1).numpy(), rtol=1e-12)


def test_softmax_axis_errors():
    with pytest.raises(ValueError, match="axis.*must be an int. Received: axis=1.5"):
        layers.Softmax(axis=1.5)
    with pytest.raises(ValueError, match=r"axis=2 is out of range.*\(2, 3\)"):
        layers.Softmax(axis=2)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"axis=-3 is out of range.*\(None, 3\)"):
        layers.Softmax(axis=-3)(layers.Input((3,)))


@pytest.mark.parametrize("make", [lambda **kw: layers.Activation("tanh", **kw),
                                  lambda **kw: layers.ReLU(6, **kw),
                                  lambda **kw: layers.Softmax(**kw)])
def test_freezing_changes_nothing_and_gradients_pass(make):
    data = _away_from_kinks((2, 4), seed=5)
    grads = []
    for trainable in (True, False):
        x = pyfrozen.tensor(data, requires_grad=True)
        y = make(dtype="float64", trainable=trainable)(x)
        y.backward(np.linspace(-1, 1, y.size).reshape(y.shape))
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
    assert np.any(grads[0] != 0)
    with trace() as tr:
        make(dtype="float64")(pyfrozen.tensor(data))
    assert tr.nodes == 0



def test_relu6_layer_is_relu_with_max_value_6():
    report = check_layer(layers.ReLU6, {}, (2, 5), expected_num_params=0,
                         input_data=np.array([[-2.0, 0.5, 3.0, 5.5, 9.0]] * 2))
    np.testing.assert_array_equal(report.output, [[0.0, 0.5, 3.0, 5.5, 6.0]] * 2)
    assert layers.ReLU6().get_config().keys() == {"name", "trainable", "dtype"}
