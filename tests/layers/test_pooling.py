"""Pooling layers: MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers
from pyfrozen.autograd import trace
from pyfrozen.testing import check_layer

WINDOWED = [
    ({}, (2, 4, 4, 3), (2, 2, 2, 3)),
    ({"pool_size": 3, "strides": 1, "padding": "same"}, (1, 5, 5, 2), (1, 5, 5, 2)),
    ({"pool_size": (2, 3), "strides": (1, 2)}, (1, 5, 6, 2), (1, 4, 2, 2)),
    ({"pool_size": 2, "strides": 2, "padding": "SAME"}, (2, 5, 3, 1), (2, 3, 2, 1)),
]


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D])
@pytest.mark.parametrize(("kwargs", "shape", "out"), WINDOWED)
def test_windowed_pooling_layer(cls, kwargs, shape, out):
    report = check_layer(cls, kwargs, shape, expected_output_shape=out,
                         expected_num_trainable_weights=0,
                         expected_num_non_trainable_weights=0, expected_num_params=0)
    op = pyfrozen.ops.max_pool2d if cls is layers.MaxPooling2D else pyfrozen.ops.avg_pool2d
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    layer = report.layer
    np.testing.assert_array_equal(
        report.output,
        op(x, layer.pool_size, layer.strides, layer.padding).numpy(),
    )


@pytest.mark.parametrize("cls", [layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D])
@pytest.mark.parametrize(("keepdims", "out"), [(False, (2, 3)), (True, (2, 1, 1, 3))])
def test_global_pooling_layer(cls, keepdims, out):
    report = check_layer(cls, {"keepdims": keepdims}, (2, 3, 4, 3), expected_output_shape=out,
                         expected_num_trainable_weights=0, expected_num_params=0)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 3))
    reduce = np.mean if cls is layers.GlobalAveragePooling2D else np.max
    np.testing.assert_allclose(report.output, reduce(x, axis=(1, 2), keepdims=keepdims),
                               rtol=1e-6, atol=1e-6)


def test_max_pooling_matches_numpy_and_average_same_counts_real_cells_only():
    x = np.arange(2 * 4 * 4 * 1, dtype=np.float64).reshape(2, 4, 4, 1)
    y = layers.MaxPooling2D(dtype="float64")(x).numpy()
    want = x.reshape(2, 2, 2, 2, 2, 1).max(axis=(2, 4))
    np.testing.assert_array_equal(y, want)
    # 3x3 "same" average at a corner: 4 real cells, so the mean of those 4 (Keras).
    avg = layers.AveragePooling2D(3, strides=1, padding="same", dtype="float64")(x).numpy()
    assert avg[0, 0, 0, 0] == np.mean(x[0, :2, :2, 0])


def test_matches_torch(torch):
    x = np.random.default_rng(1).standard_normal((2, 6, 5, 3))
    xt = torch.tensor(x.transpose(0, 3, 1, 2))
    pairs = [
        (layers.MaxPooling2D((3, 2), strides=(2, 1), dtype="float64"),
         torch.nn.functional.max_pool2d(xt, (3, 2), (2, 1))),
        (layers.AveragePooling2D(2, dtype="float64"),
         torch.nn.functional.avg_pool2d(xt, 2)),
    ]
    for layer, want in pairs:
        np.testing.assert_allclose(layer(x).numpy(), want.numpy().transpose(0, 2, 3, 1),
                                   rtol=1e-12)


def test_defaults_and_config():
    layer = layers.MaxPooling2D()
    assert layer.name.startswith("max_pooling2d")
    assert layers.GlobalAveragePooling2D().name.startswith("global_average_pooling2d")
    config = layer.get_config()
    assert config["pool_size"] == (2, 2) and config["strides"] == (2, 2)
    assert config["padding"] == "valid" and config["data_format"] == "channels_last"
    assert layers.AveragePooling2D(3, padding="Same").get_config()["padding"] == "same"
    assert layers.GlobalMaxPooling2D().get_config()["keepdims"] is False
    assert layers.MaxPool2D is layers.MaxPooling2D and layers.AvgPool2D is layers.AveragePooling2D
    assert layers.GlobalAvgPool2D is layers.GlobalAveragePooling2D
    assert layers.GlobalMaxPool2D is layers.GlobalMaxPooling2D


def test_symbolic_shapes_with_unknown_sizes():
    x = layers.Input((None, None, 3))
    assert layers.MaxPooling2D(3, strides=2)(x).shape == (None, None, None, 3)
    x = layers.Input((7, None, 3))
    assert layers.AveragePooling2D(3, strides=2, padding="same")(x).shape == (None, 4, None, 3)
    assert layers.GlobalMaxPooling2D()(x).shape == (None, 3)
    assert layers.GlobalAveragePooling2D(keepdims=True)(x).shape == (None, 1, 1, 3)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"pool_size": 0}, r"pool_size.*Received: pool_size=0 including values \[0, 0\]"),
    ({"pool_size": (2,)}, r"tuple of 2 integers. Received: pool_size=\(2,\)"),
    ({"pool_size": "2"}, "pool_size='2'"),
    ({"pool_size": (2.0, 2)}, "pool_size"),
    ({"strides": (1, 0)}, "strides"),
    ({"padding": "full"}, "padding.*'valid', 'same'. Received: padding='full'"),
    ({"data_format": "channels_first"}, "channels_first.*not supported"),
    ({"data_format": "nhwc"}, "data_format='nhwc'"),
])
def test_windowed_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.MaxPooling2D(**kwargs)
    with pytest.raises(ValueError, match=match):
        layers.AveragePooling2D(**kwargs)


def test_global_argument_errors():
    with pytest.raises(ValueError, match="keepdims.*Received: keepdims='yes'"):
        layers.GlobalAveragePooling2D(keepdims="yes")
    with pytest.raises(ValueError, match="channels_first"):
        layers.GlobalMaxPooling2D(data_format="channels_first")


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D,
                                 layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D])
def test_input_rank_errors(cls):
    with pytest.raises(ValueError, match=r"expected ndim=4, found ndim=3. Full shape received: "
                                         r"\(2, 4, 4\)"):
        cls()(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="expected ndim=4, found ndim=3"):
        cls()(layers.Input((4, 4)))


def test_window_larger_than_input():
    with pytest.raises(ValueError, match="negative.*pool_size=\\(3, 3\\)"):
        layers.MaxPooling2D(3)(layers.Input((2, 5, 1)))
    with pytest.raises(ValueError, match="larger than the input"):
        layers.MaxPooling2D(3)(np.zeros((1, 2, 5, 1)))


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D,
                                 layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D])
def test_freezing_changes_nothing_and_gradients_pass(cls):
    x_data = np.random.default_rng(2).standard_normal((1, 4, 4, 2))
    grads = []
    for trainable in (True, False):
        layer = cls(dtype="float64", trainable=trainable)
        x = pyfrozen.tensor(x_data, requires_grad=True)
        layer(x).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
    with trace() as tr:  # an input that needs no gradient: nothing is recorded
        y = cls(dtype="float64")(pyfrozen.tensor(x_data))
    assert not y.requires_grad and tr.nodes == 0

