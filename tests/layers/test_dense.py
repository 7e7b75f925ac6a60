"""Dense: check_layer over its arguments, numpy and torch oracles, errors, config, freezing."""

from __future__ import annotations

import re

import numpy as np
import pytest

import pyfrozen
from pyfrozen import initializers, ops
from pyfrozen.autograd import trace
from pyfrozen.layers import Dense, Input
from pyfrozen.testing import check_layer


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


NUMPY_ACTIVATIONS = {
    None: lambda z: z,
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "relu6": lambda z: np.clip(z, 0, 6),
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "softmax": _softmax,
    "log_softmax": lambda z: np.log(_softmax(z)),
}


def doubled_tanh(x):
    """A user activation (not fused, not a known name)."""
    return ops.tanh(x) * 2.0


# (constructor arguments, input shape): small shapes, every activation, 2-D and 3-D inputs.
CASES = [
    ({"units": 3}, (2, 4)),
    ({"units": 1}, (3, 2)),
    ({"units": 4, "use_bias": False}, (2, 3)),
    *[({"units": 3, "activation": name}, (2, 5)) for name in NUMPY_ACTIVATIONS],
    ({"units": 2, "activation": "softmax"}, (2, 3, 4)),  # (batch, time, features)
    ({"units": 3, "activation": "relu", "use_bias": False}, (2, 3, 4)),
    ({"units": 2, "activation": "tanh"}, (1, 2, 2, 3)),
    ({"units": 3, "kernel_initializer": "he_normal", "bias_initializer": "ones"}, (2, 4)),
    ({"units": 3, "kernel_initializer": initializers.Orthogonal(seed=1),
      "bias_initializer": initializers.Constant(0.25)}, (2, 4)),
    ({"units": 2, "activation": "sigmoid", "dtype": "float64"}, (3, 4)),
    ({"units": 2, "activation": doubled_tanh}, (2, 3)),
]


def _case_id(case):
    kwargs, shape = case
    parts = [f"{k}={getattr(v, '__name__', None) or type(v).__name__ if callable(v) else v}"
             for k, v in kwargs.items()]
    return ",".join(parts) + f"-{len(shape)}d"


@pytest.mark.parametrize(("kwargs", "input_shape"), CASES, ids=[_case_id(c) for c in CASES])
def test_dense(kwargs, input_shape):
    units, use_bias = kwargs["units"], kwargs.get("use_bias", True)
    fan_in = input_shape[-1]
    report = check_layer(Dense, kwargs, input_shape,
                         expected_output_shape=(*input_shape[:-1], units),
                         expected_num_trainable_weights=2 if use_bias else 1,
                         expected_num_non_trainable_weights=0,
                         expected_num_params=fan_in * units + (units if use_bias else 0))
    layer = report.layer
    assert [w.name for w in layer.weights] == ["kernel", "bias"][:len(layer.weights)]
    assert layer.kernel.shape == (fan_in, units) and layer.kernel.dtype == layer.dtype
    assert (layer.bias is None) == (not use_bias)
    data = np.random.default_rng(0).standard_normal(input_shape)  # check_layer's input
    z = data.astype(layer.dtype) @ layer.kernel.numpy()
    if use_bias:
        z = z + layer.bias.numpy()
    activation = kwargs.get("activation")
    if callable(activation):
        want = activation(pyfrozen.tensor(z)).numpy()
    else:
        want = NUMPY_ACTIVATIONS[activation](z.astype(np.float64))
    rtol = 1e-12 if layer.dtype == "float64" else 1e-5
    np.testing.assert_allclose(report.output, want, rtol=rtol, atol=rtol)


def test_initializers_by_name_and_object():
    layer = Dense(4, kernel_initializer="ones", bias_initializer=initializers.Constant(0.5))
    np.testing.assert_array_equal(layer(np.ones((1, 3))).numpy(), np.full((1, 4), 3.5))
    default = Dense(64)
    default.build((None, 32))
    limit = np.sqrt(6 / (32 + 64))  # glorot_uniform
    kernel = default.kernel.numpy()
    assert kernel.min() >= -limit and kernel.max() <= limit and kernel.std() > limit / 3
    np.testing.assert_array_equal(default.bias.numpy(), 0.0)
    a = Dense(3, kernel_initializer=initializers.GlorotNormal(seed=7))
    b = Dense(3, kernel_initializer=initializers.GlorotNormal(seed=7))
    a.build((None, 5))
    b.build((None, 5))
    np.testing.assert_array_equal(a.kernel.numpy(), b.kernel.numpy())


@pytest.mark.parametrize("activation", [None, "relu", "relu6", "sigmoid", "tanh", "softmax",
                                        "log_softmax"])
def test_matches_torch(torch, activation):
    f = torch.nn.functional
    torch_act = {None: lambda z: z, "relu": f.relu, "relu6": f.relu6,
                 "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                 "softmax": lambda z: f.softmax(z, dim=-1),
                 "log_softmax": lambda z: f.log_softmax(z, dim=-1)}[activation]
    rng = np.random.default_rng(3)
    x_np = rng.standard_normal((2, 3, 5))
    layer = Dense(4, activation=activation, dtype="float64")
    layer(x_np)
    layer.set_weights([rng.standard_normal((5, 4)), rng.standard_normal(4)])
    dy = rng.standard_normal((2, 3, 4))
    x = pyfrozen.tensor(x_np, requires_grad=True)
    y = layer(x)
    y.backward(dy)

    tx = torch.tensor(x_np, requires_grad=True)
    tk = torch.tensor(layer.kernel.numpy(), requires_grad=True)
    tb = torch.tensor(layer.bias.numpy(), requires_grad=True)
    ty = torch_act(f.linear(tx, tk.T, tb))  # torch keeps (out, in): Keras's kernel transposed
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    for ours, theirs in [(x, tx), (layer.kernel, tk), (layer.bias, tb)]:
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10,
                                   atol=1e-12)


@pytest.mark.parametrize("units", [0, -1, 2.5, None, "3"])
def test_units_must_be_a_positive_int(units):
    message = ("Received an invalid value for `units`, expected a positive integer. "
               f"Received: units={units!r}")
    with pytest.raises(ValueError, match=re.escape(message)):
        Dense(units)


def test_argument_and_input_errors():
    with pytest.raises(ValueError, match="Received: units=0"):  # from test_layer.py
        Dense(0)
    with pytest.raises(ValueError, match=r"Unknown activation: 'gelu'\. Known: \['linear'"):
        Dense(2, activation="gelu")
    with pytest.raises(ValueError, match="unknown initializer 'nope'"):
        Dense(2, kernel_initializer="nope")  # checked in the constructor, as Keras
    built = Dense(2)
    built(np.ones((1, 4)))
    with pytest.raises(ValueError, match=r'Input 0 of layer "dense.*" is incompatible with the '
                       r"layer: expected axis -1 of input shape to have value 4, but received "
                       r"input with shape \(1, 5\)"):
        built(np.ones((1, 5)))


def test_config_round_trip():
    layer = Dense(5, activation="relu6", use_bias=False, kernel_initializer="he_uniform",
                  name="proj", trainable=False, dtype="float64")
    config = layer.get_config()
    assert config == {"name": "proj", "trainable": False, "dtype": "float64", "units": 5,
                      "activation": "relu6", "use_bias": False,
                      "kernel_initializer": "he_uniform", "bias_initializer": "zeros"}
    clone = Dense.from_config(config)
    assert clone.get_config() == config and clone.activation is ops.relu6
    assert Dense(2).get_config()["activation"] == "linear"  # None is saved as Keras does
    custom = Dense(2, activation=doubled_tanh).get_config()
    assert custom["activation"] is doubled_tanh
    layer(np.ones((2, 3)))
    clone(np.ones((2, 3)))
    clone.set_weights(layer.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 3))
    np.testing.assert_array_equal(clone(x).numpy(), layer(x).numpy())


def test_symbolic_shapes_keep_unknown_dimensions():
    assert Dense(3)(Input((None, 5))).shape == (None, None, 3)
    assert Dense(3).compute_output_shape((7, 2, 5)) == (7, 2, 3)


def _twins(x, units, dtype="float64"):
    full, masked = Dense(units, dtype=dtype), Dense(units, dtype=dtype)
    full(x)
    masked(x)
    masked.set_weights(full.get_weights())
    return full, masked


def _weight_gradient_run(layer, x, dy):
    with trace() as tr:
        layer(x).backward(dy)
    (record,) = tr.ran(layer=layer.name, kernel="dense", pass_="backward_weight")
    return record.work


def test_a_column_mask_limits_the_weight_gradient_to_trainable_units():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 5))  # 6 rows
    dy = rng.standard_normal((2, 3, 4))
    full, masked = _twins(x, 4)
    frozen = np.array([True, False, True, True])  # only unit 1 trains
    masked.set_freeze_mask("kernel", frozen)
    assert _weight_gradient_run(full, x, dy) == 6 * 5 * 4
    assert _weight_gradient_run(masked, x, dy) == 6 * 5 * 1
    assert masked.kernel.trainable_count() == 5
    g_full, g_masked = full.kernel.grad.numpy(), masked.kernel.grad.numpy()
    np.testing.assert_allclose(g_masked[:, ~frozen], g_full[:, ~frozen], rtol=1e-13)
    np.testing.assert_array_equal(g_masked[:, frozen], 0.0)
    np.testing.assert_array_equal(masked.bias.grad.numpy(), full.bias.grad.numpy())


def test_a_row_mask_limits_the_weight_gradient_to_trainable_features():
    rng = np.random.default_rng(5)
    x, dy = rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    full, masked = _twins(x, 3)
    frozen = np.arange(6) >= 2  # the first 2 input features train
    masked.set_freeze_mask("kernel", frozen, axis=0)
    assert _weight_gradient_run(full, x, dy) == 4 * 6 * 3
    assert _weight_gradient_run(masked, x, dy) == 4 * 2 * 3
    np.testing.assert_allclose(masked.kernel.grad.numpy()[~frozen],
                               full.kernel.grad.numpy()[~frozen], rtol=1e-13)
    np.testing.assert_array_equal(masked.kernel.grad.numpy()[frozen], 0.0)


def test_trainable_false_records_nothing_below_and_keeps_no_input():
    rng = np.random.default_rng(6)
    data, dy = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    layer = Dense(3, dtype="float64")
    layer(data)
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    with trace() as tr:  # at the bottom of a model: nothing needs a gradient
        y = layer(data)
    assert not y.requires_grad and y.grad_fn is None and tr.nodes == 0
    assert {r.pass_ for r in tr.kernels} == {"forward"}

    x = pyfrozen.tensor(data, requires_grad=True)  # a trainable layer below wants dx
    with trace() as frozen_tr:
        layer(x).backward(dy)
    assert not frozen_tr.ran(pass_="backward_weight") and not frozen_tr.ran(
        pass_="backward_bias")
    assert frozen_tr.ran(layer=layer.name, kernel="dense", pass_="backward_input")
    assert layer.kernel.grad is None and layer.bias.grad is None
    assert frozen_tr.saved_bytes == 0  # the kernel is a weight; the input is not kept
    dx_frozen = x.grad.numpy().copy()

    layer.trainable = True
    x.grad = None
    with trace() as trainable_tr:
        layer(x).backward(dy)
    assert trainable_tr.saved_bytes == data.nbytes  # x, for the kernel's gradient
    np.testing.assert_array_equal(x.grad.numpy(), dx_frozen)


def test_units_accepts_numpy_ints_and_refuses_bools_and_unknown_initializers_early():
    assert Dense(np.int64(3)).units == 3 and type(Dense(np.int64(3)).units) is int
    with pytest.raises(ValueError, match="Received: units=True"):
        Dense(True)
    with pytest.raises(ValueError, match="unknown initializer 'glorot_unifrom'"):
        Dense(2, kernel_initializer="glorot_unifrom")


def test_plain_lists_unknown_feature_sizes_and_lists_of_inputs():
    layer = Dense(2, name="from_list")  # unbuilt, called on a nested list (Keras accepts it)
    np.testing.assert_array_equal(layer([[1.0, 2.0]]).data,
                                  layer(np.array([[1.0, 2.0]])).data)
    with pytest.raises(ValueError, match=r"The last dimension of the inputs to a Dense layer "
                       r"should be defined\. Found None\. Full input shape received: "
                       r"\(None, None\)"):
        Dense(2).build((None, None))
    with pytest.raises(ValueError, match=r"Dense 'two_inputs' takes one input, received a list "
                       r"of 2 with shapes \[\(1, 2\), \(1, 3\)\]"):
        Dense(2, name="two_inputs")([np.ones((1, 2)), np.ones((1, 3))])
