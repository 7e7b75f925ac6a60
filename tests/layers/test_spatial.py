"""ZeroPadding2D and UpSampling2D."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers
from pyfrozen.autograd import trace
from pyfrozen.testing import check_layer


@pytest.mark.parametrize(("kwargs", "pairs"), [
    ({}, ((1, 1), (1, 1))),
    ({"padding": 2}, ((2, 2), (2, 2))),
    ({"padding": (1, 0)}, ((1, 1), (0, 0))),
    ({"padding": ((0, 1), (2, 0))}, ((0, 1), (2, 0))),
    ({"padding": [[0, 1], [0, 1]]}, ((0, 1), (0, 1))),
])
def test_zero_padding(kwargs, pairs):
    shape = (2, 3, 2, 2)
    (top, bottom), (left, right) = pairs
    out = (2, 3 + top + bottom, 2 + left + right, 2)
    report = check_layer(layers.ZeroPadding2D, kwargs, shape, expected_output_shape=out,
                         expected_num_trainable_weights=0, expected_num_params=0)
    assert report.layer.padding == pairs
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(report.output, np.pad(x, ((0, 0), *pairs, (0, 0))))


@pytest.mark.parametrize(("kwargs", "size"), [
    ({}, (2, 2)),
    ({"size": 3}, (3, 3)),
    ({"size": (2, 1), "interpolation": "nearest"}, (2, 1)),
])
def test_up_sampling(kwargs, size):
    shape = (2, 2, 3, 2)
    out = (2, 2 * size[0], 3 * size[1], 2)
    report = check_layer(layers.UpSampling2D, kwargs, shape, expected_output_shape=out,
                         expected_num_trainable_weights=0, expected_num_params=0)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(report.output,
                                  x.repeat(size[0], axis=1).repeat(size[1], axis=2))


def test_matches_torch(torch):
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 2))
    xt = torch.tensor(x.transpose(0, 3, 1, 2))
    padded = layers.ZeroPadding2D(((1, 2), (0, 3)), dtype="float64")(x).numpy()
    want = torch.nn.functional.pad(xt, (0, 3, 1, 2))  # (left, right, top, bottom)
    np.testing.assert_array_equal(padded, want.numpy().transpose(0, 2, 3, 1))
    up = layers.UpSampling2D((2, 3), dtype="float64")(x).numpy()
    want = torch.nn.functional.interpolate(xt, scale_factor=(2, 3), mode="nearest")
    np.testing.assert_array_equal(up, want.numpy().transpose(0, 2, 3, 1))


def test_symbolic_shapes_with_unknown_sizes():
    x = layers.Input((None, 5, 3))
    assert layers.ZeroPadding2D(((0, 1), (0, 1)))(x).shape == (None, None, 6, 3)
    assert layers.UpSampling2D((2, 3))(x).shape == (None, None, 15, 3)


def test_config_and_names():
    config = layers.ZeroPadding2D(3).get_config()
    assert config["padding"] == ((3, 3), (3, 3)) and config["data_format"] == "channels_last"
    assert layers.ZeroPadding2D.from_config(config).padding == ((3, 3), (3, 3))
    config = layers.UpSampling2D(4).get_config()
    assert config["size"] == (4, 4) and config["interpolation"] == "nearest"
    assert layers.ZeroPadding2D().name.startswith("zero_padding2d")
    assert layers.UpSampling2D().name.startswith("up_sampling2d")


@pytest.mark.parametrize("padding", [-1, (1, 2, 3), ((1,), (1, 1)), "same", ((1, 1), (1, -1)),
                                     (1.0, 1), ((1, 1), 1), None])
def test_zero_padding_argument_errors(padding):
    with pytest.raises(ValueError, match=r"`padding` should be either an int, a tuple of 2 ints.*"
                                         r"Received: padding="):
        layers.ZeroPadding2D(padding)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"size": 0}, r"`size` argument must be a tuple of 2 integers. Received: size=0 including"),
    ({"size": (2,)}, r"Received: size=\(2,\)"),
    ({"size": 2.0}, "size=2.0"),
    ({"interpolation": "bilinear"}, "interpolation='bilinear' is not supported.*'nearest'"),
    ({"interpolation": "cubic"}, r"`interpolation` argument should be one of: .*'nearest'\]. "
                                 "Received: interpolation='cubic'"),
    ({"data_format": "channels_first"}, "channels_first.*not supported"),
])
def test_up_sampling_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.UpSampling2D(**kwargs)


@pytest.mark.parametrize("cls", [layers.ZeroPadding2D, layers.UpSampling2D])
def test_input_rank_errors(cls):
    with pytest.raises(ValueError, match=r"expected ndim=4, found ndim=3.*\(2, 3, 3\)"):
        cls()(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="expected ndim=4, found ndim=2"):
        cls()(layers.Input((3,)))


@pytest.mark.parametrize("make", [lambda **kw: layers.ZeroPadding2D(((1, 0), (2, 1)), **kw),
                                  lambda **kw: layers.UpSampling2D((2, 3), **kw)])
def test_freezing_changes_nothing_and_gradients_pass(make):
    data = np.random.default_rng(2).standard_normal((1, 3, 2, 2))
    grads = []
    for trainable in (True, False):
        x = pyfrozen.tensor(data, requires_grad=True)
        y = make(dtype="float64", trainable=trainable)(x)
        y.backward(np.ones(y.shape))
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
    assert np.all(grads[0] > 0)  # every input pixel reaches the output
    with trace() as tr:
        make(dtype="float64")(pyfrozen.tensor(data))
    assert tr.nodes == 0


def test_mobilenet_style_padding_then_valid_stride_two_pooling():
    inputs = layers.Input((6, 6, 2))
    x = layers.ZeroPadding2D(((0, 1), (0, 1)))(inputs)
    x = layers.MaxPooling2D(3, strides=2)(x)
    assert x.shape == (None, 3, 3, 2)
    up = layers.UpSampling2D()(x)
    assert up.shape == (None, 6, 6, 2)
