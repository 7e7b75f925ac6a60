"""DepthwiseConv2D layer: Keras contract, numpy reference, validation, freezing."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import trace
from pyfrozen.layers import Conv2D, DepthwiseConv2D, Input


def depthwise_reference(taps, k):
    """Output channel c * M + m = conv(x[..., c], k[:, :, c, m]), from each tap's patch."""
    n, oh, ow, c = taps[0][2].shape
    out = np.zeros((n, oh, ow, c, k.shape[3]))
    for i, j, patch in taps:
        out += patch[..., None] * k[i, j]
    return out.reshape(n, oh, ow, c * k.shape[3])


CASES = [
    (dict(kernel_size=3), (2, 5, 5, 3), (2, 3, 3, 3), 2, 3 * 3 * 3 + 3),
    (dict(kernel_size=3, strides=2, padding="same", depth_multiplier=2, activation="relu"),
     (2, 6, 5, 2), (2, 3, 3, 4), 2, 3 * 3 * 2 * 2 + 4),
    (dict(kernel_size=(2, 3), use_bias=False, activation="relu6", depth_multiplier=3),
     (1, 4, 5, 2), (1, 3, 3, 6), 1, 2 * 3 * 2 * 3),
    (dict(kernel_size=3, padding="Same", dilation_rate=(2, 1), activation="softmax"),
     (1, 5, 4, 3), (1, 5, 4, 3), 2, 3 * 3 * 3 + 3),
    (dict(kernel_size=1, strides=(2, 1), depth_multiplier=2, activation="sigmoid",
          bias_initializer="ones"), (2, 3, 3, 2), (2, 2, 3, 4), 2, 2 * 2 + 4),
]


@pytest.mark.parametrize("case", CASES)
def test_check_layer(conv_kit, case):
    conv_kit.check_case(DepthwiseConv2D, ["depthwise_kernel", "bias"], *case)


@pytest.mark.parametrize("case", CASES)
def test_forward_matches_numpy(conv_kit, case):
    layer, x = conv_kit.random_layer(DepthwiseConv2D, *case[:2])
    taps = conv_kit.kernel_taps(x, layer)
    conv_kit.assert_forward(layer, x, depthwise_reference(taps, layer.depthwise_kernel.numpy()))


def test_equals_grouped_conv2d_with_reshaped_kernel():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 6, 6, 3))
    dw = DepthwiseConv2D(3, depth_multiplier=2, padding="same", dtype="float64")
    dw(x)
    grouped = Conv2D(6, 3, padding="same", groups=3, dtype="float64")
    grouped(x)
    kernel = dw.depthwise_kernel.numpy()
    grouped.set_weights([kernel.reshape(3, 3, 1, 6), dw.bias.numpy()])
    np.testing.assert_allclose(dw(x).numpy(), grouped(x).numpy(), rtol=1e-12, atol=1e-13)


def test_keras_shapes_defaults_and_config():
    layer = DepthwiseConv2D(3, depth_multiplier=2)
    layer(np.zeros((1, 5, 5, 4), np.float32))
    assert layer.depthwise_kernel.shape == (3, 3, 4, 2) and layer.bias.shape == (8,)
    limit = math.sqrt(6 / (9 * 4 + 9 * 2))  # glorot_uniform, Keras fans of (3, 3, 4, 2)
    assert np.abs(layer.depthwise_kernel.numpy()).max() <= limit
    config = layer.get_config()
    assert config["kernel_size"] == (3, 3) and config["depth_multiplier"] == 2
    assert config["depthwise_initializer"] == "glorot_uniform"
    assert DepthwiseConv2D.from_config(config).get_config() == config
    assert DepthwiseConv2D(3, 2)(Input((None, 9, 5))).shape == (None, None, 4, 5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(kernel_size=3, depth_multiplier=0), r"`depth_multiplier`.*Received depth_multiplier=0"),
    (dict(kernel_size=3, depth_multiplier=1.5), r"depth_multiplier=1.5"),
    (dict(kernel_size=(3,)), r"`kernel_size` argument must be a tuple of 2 integers"),
    (dict(kernel_size=3, strides=0), r"`strides`.*value > 0"),
    (dict(kernel_size=3, strides=2, dilation_rate=2), r"`strides > 1` not supported"),
    (dict(kernel_size=3, padding="reflect"), r"padding='reflect'"),
    (dict(kernel_size=3, data_format="channels_first"), r"channels_last"),
])
def test_argument_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DepthwiseConv2D(**kwargs)


def test_build_validation():
    with pytest.raises(ValueError, match=r"expected ndim=4, found ndim=2"):
        DepthwiseConv2D(3)(np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"Computed output size would be negative"):
        DepthwiseConv2D(4)(Input((3, 3, 2)))
    layer = DepthwiseConv2D(3)
    layer(np.ones((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 3, "
                       r"but received input with shape \(1, 5, 5, 2\)"):
        layer(np.ones((1, 5, 5, 2)))


def test_frozen_layer_runs_only_the_input_gradient():
    x = pyfrozen.tensor(np.random.default_rng(3).standard_normal((2, 5, 5, 2)),
                        requires_grad=True)
    layer = DepthwiseConv2D(3, depth_multiplier=2, activation="relu", dtype="float64")
    layer(x)
    layer.trainable = False
    with trace() as tr:
        layer(x).backward(np.ones((2, 3, 3, 4)))
    passes = {r.pass_ for r in tr.ran(layer=layer.name) if r.pass_ != "forward"}
    assert passes == {"backward_input"}  # the relu's derivative and the conv's dX
    assert tr.by_layer()[layer.name] == 2 * 3 * 3 * 4 * 8  # the relu output only, not x
    assert x.grad is not None and layer.depthwise_kernel.grad is None


def test_input_channel_mask_limits_weight_gradient_work(conv_kit):
    x = np.random.default_rng(4).standard_normal((1, 6, 6, 4))
    kwargs = dict(kernel_size=3, padding="same", depth_multiplier=2)
    full, masked = conv_kit.twin_layers(DepthwiseConv2D, kwargs, x)
    masked.set_freeze_mask("depthwise_kernel", np.array([True, False, True, True]).reshape(
        1, 1, 4, 1))  # only input channel 1 trains
    works = conv_kit.weight_gradient_work((full, masked), x, np.ones((1, 6, 6, 8)))
    assert works[1] * 4 == works[0]
    g_full, g_masked = full.depthwise_kernel.grad.numpy(), masked.depthwise_kernel.grad.numpy()
    np.testing.assert_array_equal(g_masked[:, :, [0, 2, 3]], 0.0)
    np.testing.assert_allclose(g_masked[:, :, 1], g_full[:, :, 1], rtol=1e-12)
