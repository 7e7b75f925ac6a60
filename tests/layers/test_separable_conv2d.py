"""SeparableConv2D layer: Keras contract, depthwise-then-pointwise reference, freezing."""

from __future__ import annotations

import numpy as np
import pytest

from pyfrozen.autograd import trace
from pyfrozen.layers import Conv2D, DepthwiseConv2D, Input, SeparableConv2D

CASES = [
    (dict(filters=4, kernel_size=3), (2, 5, 5, 3), (2, 3, 3, 4), 3, 3 * 3 * 3 + 3 * 4 + 4),
    (dict(filters=3, kernel_size=3, strides=2, padding="same", depth_multiplier=2,
          activation="relu"), (2, 6, 5, 2), (2, 3, 3, 3), 3, 3 * 3 * 2 * 2 + 4 * 3 + 3),
    (dict(filters=2, kernel_size=(2, 3), use_bias=False, activation="tanh"),
     (1, 4, 5, 2), (1, 3, 3, 2), 2, 2 * 3 * 2 + 2 * 2),
    (dict(filters=5, kernel_size=3, padding="same", dilation_rate=2, activation="softmax",
          pointwise_initializer="he_uniform"), (1, 5, 5, 2), (1, 5, 5, 5), 3,
     3 * 3 * 2 + 2 * 5 + 5),
]


@pytest.mark.parametrize("case", CASES)
def test_check_layer(conv_kit, case):
    conv_kit.check_case(SeparableConv2D, ["depthwise_kernel", "pointwise_kernel", "bias"], *case)


@pytest.mark.parametrize("case", CASES)
def test_equals_depthwise_then_pointwise(conv_kit, case):
    kwargs, input_shape = case[:2]
    layer, x = conv_kit.random_layer(SeparableConv2D, kwargs, input_shape)
    depthwise_args = {k: v for k, v in kwargs.items()
                      if k in ("kernel_size", "strides", "padding", "dilation_rate",
                               "depth_multiplier")}
    depthwise = DepthwiseConv2D(**depthwise_args, use_bias=False, dtype="float64")
    pointwise = Conv2D(kwargs["filters"], 1, use_bias=layer.use_bias,
                       activation=kwargs.get("activation"), dtype="float64")
    pointwise(depthwise(x))
    depthwise.set_weights([layer.depthwise_kernel.numpy()])
    pointwise.set_weights([w.numpy() for w in layer.weights[1:]])
    np.testing.assert_allclose(layer(x).numpy(), pointwise(depthwise(x)).numpy(), rtol=1e-12,
                               atol=1e-13)


def test_keras_shapes_and_config():
    layer = SeparableConv2D(6, 3, depth_multiplier=2)
    layer(np.zeros((1, 5, 5, 4), np.float32))
    assert layer.depthwise_kernel.shape == (3, 3, 4, 2)
    assert layer.pointwise_kernel.shape == (1, 1, 8, 6) and layer.bias.shape == (6,)
    config = layer.get_config()
    assert config["pointwise_initializer"] == "glorot_uniform" and config["filters"] == 6
    assert SeparableConv2D.from_config(config).get_config() == config
    assert SeparableConv2D(2, 3, strides=2, padding="same")(Input((7, None, 3))).shape == (
        None, 4, None, 2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(filters=0, kernel_size=3), r"`filters`.*Received filters=0"),
    (dict(filters=2, kernel_size=3, depth_multiplier=-1), r"depth_multiplier=-1"),
    (dict(filters=2, kernel_size=None), r"`kernel_size` argument must be a tuple"),
    (dict(filters=2, kernel_size=3, strides=(2, 2), dilation_rate=(1, 2)),
     r"`strides > 1` not supported"),
    (dict(filters=2, kernel_size=3, padding=1), r"padding=1"),
])
def test_argument_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SeparableConv2D(**kwargs)


def test_build_validation():
    with pytest.raises(ValueError, match=r"expected ndim=4, found ndim=5"):
        SeparableConv2D(2, 3)(np.ones((1, 1, 5, 5, 3)))


def test_frozen_layer_runs_no_weight_kernels_and_keeps_no_input():
    x = np.random.default_rng(2).standard_normal((2, 5, 5, 3))
    below = Conv2D(3, 1, dtype="float64")
    layer = SeparableConv2D(4, 3, dtype="float64")
    layer(below(x))
    with trace() as t_train:
        layer(below(x)).backward(np.ones((2, 3, 3, 4)))
    layer.trainable = False
    with trace() as t_frozen:
        layer(below(x)).backward(np.ones((2, 3, 3, 4)))
    assert {r.pass_ for r in t_train.ran(layer=layer.name)} >= {"backward_weight",
                                                                "backward_bias"}
    assert {r.pass_ for r in t_frozen.ran(layer=layer.name)} == {"forward", "backward_input"}
    assert t_frozen.by_layer().get(layer.name, 0) == 0
    assert t_train.by_layer()[layer.name] > 0


def test_frozen_depthwise_kernel_only():
    """A full mask on the depthwise kernel: the pointwise kernel still trains."""
    x = np.random.default_rng(3).standard_normal((1, 5, 5, 2))
    layer = SeparableConv2D(3, 3, dtype="float64")
    layer(x)
    layer.set_freeze_mask("depthwise_kernel", True)
    with trace() as tr:
        layer(x).backward(np.ones((1, 3, 3, 3)))
    weight_ops = [r.op for r in tr.ran(layer=layer.name, pass_="backward_weight")]
    assert weight_ops == ["conv2d"]  # the pointwise one only
    # With the input needing no gradient either, the depthwise step records nothing.
    assert not [r for r in tr.kernels if r.op == "depthwise_conv2d" and r.pass_ != "forward"]
    assert tr.nodes == 1
    assert layer.depthwise_kernel.grad is None and layer.pointwise_kernel.grad is not None
    assert [w.name for w in layer.trainable_weights] == ["pointwise_kernel", "bias"]


def test_pointwise_output_channel_mask_limits_work(conv_kit):
    x = np.random.default_rng(4).standard_normal((1, 4, 4, 2))
    kwargs = dict(filters=4, kernel_size=3, padding="same")
    full, masked = conv_kit.twin_layers(SeparableConv2D, kwargs, x)
    masked.set_freeze_mask("pointwise_kernel", np.array([False, True, True, True]), axis=-1)
    works = conv_kit.weight_gradient_work((full, masked), x, np.ones((1, 4, 4, 4)), op="conv2d")
    assert works[1] * 4 == works[0]
    np.testing.assert_array_equal(masked.pointwise_kernel.grad.numpy()[..., 1:], 0.0)
    np.testing.assert_allclose(masked.pointwise_kernel.grad.numpy()[..., 0],
                               full.pointwise_kernel.grad.numpy()[..., 0], rtol=1e-12)
    np.testing.assert_allclose(masked.depthwise_kernel.grad.numpy(),
                               full.depthwise_kernel.grad.numpy(), rtol=1e-12)
