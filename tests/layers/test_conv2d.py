"""Conv2D layer: Keras contract (check_layer), numpy reference, validation, freezing."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.autograd import trace
from pyfrozen.layers import Conv2D, Input


def conv_reference(taps, k, groups=1):
    """Grouped 2-D convolution in plain numpy, from each kernel tap's input patch."""
    _, _, cg, f = k.shape
    out = np.zeros((*taps[0][2].shape[:3], f))
    fg = f // groups
    for i, j, patch in taps:
        for g in range(groups):
            out[..., g * fg:(g + 1) * fg] += (patch[..., g * cg:(g + 1) * cg]
                                              @ k[i, j, :, g * fg:(g + 1) * fg])
    return out


# ---- the Keras contract ------------------------------------------------------------------------

CASES = [
    (dict(filters=3, kernel_size=3), (2, 5, 5, 2), (2, 3, 3, 3), 2, 3 * 3 * 2 * 3 + 3),
    (dict(filters=4, kernel_size=(3, 2), strides=2, padding="same", activation="relu"),
     (2, 6, 5, 3), (2, 3, 3, 4), 2, 3 * 2 * 3 * 4 + 4),
    (dict(filters=2, kernel_size=2, use_bias=False, activation="tanh"),
     (1, 4, 3, 3), (1, 3, 2, 2), 1, 2 * 2 * 3 * 2),
    (dict(filters=4, kernel_size=3, padding="SAME", dilation_rate=2, groups=2,
          activation="softmax"), (1, 5, 5, 2), (1, 5, 5, 4), 2, 3 * 3 * 1 * 4 + 4),
    (dict(filters=2, kernel_size=1, strides=(1, 2), activation="sigmoid",
          kernel_initializer="he_normal", bias_initializer="ones"),
     (2, 3, 4, 3), (2, 3, 2, 2), 2, 3 * 2 + 2),
]


@pytest.mark.parametrize("case", CASES)
def test_check_layer(conv_kit, case):
    conv_kit.check_case(Conv2D, ["kernel", "bias"], *case)


@pytest.mark.parametrize("case", CASES)
def test_forward_matches_numpy(conv_kit, case):
    layer, x = conv_kit.random_layer(Conv2D, *case[:2])
    taps = conv_kit.kernel_taps(x, layer)
    conv_kit.assert_forward(layer, x, conv_reference(taps, layer.kernel.numpy(), layer.groups))


def test_keras_shapes_defaults_and_config():
    layer = Conv2D(6, 3)
    layer(np.zeros((1, 5, 5, 4), np.float32))
    assert layer.kernel.shape == (3, 3, 4, 6) and layer.bias.shape == (6,)
    assert layer.kernel.dtype == np.float32
    np.testing.assert_array_equal(layer.bias.numpy(), 0.0)
    limit = math.sqrt(6 / (9 * 4 + 9 * 6))  # glorot_uniform with Keras's conv fans
    assert np.abs(layer.kernel.numpy()).max() <= limit
    config = layer.get_config()
    assert config["kernel_size"] == (3, 3) and config["strides"] == (1, 1)
    assert config["padding"] == "valid" and config["data_format"] == "channels_last"
    assert config["activation"] == "linear" and config["groups"] == 1
    assert Conv2D.from_config(config).get_config() == config


def test_symbolic_shapes_with_unknown_spatial_size():
    out = Conv2D(5, 3, strides=2, padding="same")(Input((None, None, 3)))
    assert out.shape == (None, None, None, 5)
    out = Conv2D(5, 3, strides=2)(Input((7, 8, 3)))
    assert out.shape == (None, 3, 3, 5)


def test_fusable_activation_is_one_node_others_two():
    x = pyfrozen.tensor(np.ones((1, 4, 4, 2), np.float32), requires_grad=True)
    for activation, nodes in (("relu6", 1), ("softmax", 2), (None, 1)):
        with trace() as tr:
            Conv2D(3, 3, activation=activation)(x)
        assert tr.nodes == nodes, activation


def test_float64_input_into_float32_layer_is_cast():
    layer = Conv2D(2, 1)
    assert layer(np.ones((1, 2, 2, 3))).dtype == np.float32


# ---- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    (dict(filters=0, kernel_size=3), r"`filters`.*strictly positive.*Received filters=0"),
    (dict(filters=2.5, kernel_size=3), r"Received filters=2.5"),
    (dict(filters=4, kernel_size=3, groups=0), r"groups must be a positive.*groups=0"),
    (dict(filters=5, kernel_size=3, groups=2), r"evenly divisible.*groups=2, filters=5"),
    (dict(filters=2, kernel_size=0), r"`kernel_size` argument must be a tuple of 2 integers"
                                     r".*including values \{0\}"),
    (dict(filters=2, kernel_size=(3, 3, 3)), r"`kernel_size` argument must be a tuple of 2"),
    (dict(filters=2, kernel_size=(3, "a")), r"kernel_size.*including element 'a'"),
    (dict(filters=2, kernel_size=3, strides=(2, 0)), r"`strides`.*value > 0"),
    (dict(filters=2, kernel_size=3, dilation_rate=-1), r"`dilation_rate`.*value > 0"),
    (dict(filters=2, kernel_size=3, strides=2, dilation_rate=2),
     r"`strides > 1` not supported in conjunction with `dilation_rate > 1`"),
    (dict(filters=2, kernel_size=3, padding="full"),
     r"`padding` argument must be one of 'valid', 'same'.*padding='full'"),
    (dict(filters=2, kernel_size=3, padding="causal"), r"padding='causal'"),
    (dict(filters=2, kernel_size=3, data_format="channels_first"), r"channels_last \(NHWC\)"),
    (dict(filters=2, kernel_size=3, data_format="nhwc"), r"`data_format` argument"),
    (dict(filters=2, kernel_size=3, activation="swishy"), r"Unknown activation: 'swishy'"),
])
def test_argument_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Conv2D(**kwargs)


def test_build_validation():
    with pytest.raises(ValueError, match=r"input channels must be evenly divisible.*groups=2, "
                                         r"but the input has 3 channels"):
        Conv2D(4, 3, groups=2)(np.ones((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"Input 0 of layer 'c3' is incompatible.*expected "
                                         r"ndim=4, found ndim=3"):
        Conv2D(4, 3, name="c3")(np.ones((5, 5, 3)))
    with pytest.raises(ValueError, match=r"channel dimension .* should be defined"):
        Conv2D(4, 3)(Input((5, 5, None)))
    with pytest.raises(ValueError, match=r"Computed output size would be negative"):
        Conv2D(4, 5)(Input((3, 8, 2)))
    layer = Conv2D(4, 3)
    layer(np.ones((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 3, "
                       r"but received input with shape \(1, 5, 5, 2\)"):
        layer(np.ones((1, 5, 5, 2)))


# ---- freezing ------------------------------------------------------------------------------------


def _below_and_conv(conv_kwargs, x):
    """A trainable Conv2D feeding the layer under test, so the input gradient is needed."""
    below = Conv2D(3, 1, dtype="float64", name=None)
    layer = Conv2D(**conv_kwargs, dtype="float64")
    layer(below(x))
    return below, layer


def test_frozen_conv_keeps_kernel_not_input_and_runs_no_weight_kernel():
    x = np.random.default_rng(2).standard_normal((2, 6, 6, 2))
    below, layer = _below_and_conv(dict(filters=4, kernel_size=3), x)
    with trace() as t_train:
        layer(below(x)).backward(np.ones((2, 4, 4, 4)))
    layer.trainable = False
    for w in below.weights + layer.weights:
        w.grad = None
    with trace() as t_frozen:
        layer(below(x)).backward(np.ones((2, 4, 4, 4)))
    assert t_train.ran(layer=layer.name, pass_="backward_weight")
    assert not t_frozen.ran(layer=layer.name, pass_="backward_weight")
    assert not t_frozen.ran(layer=layer.name, pass_="backward_bias")
    assert t_frozen.ran(layer=layer.name, pass_="backward_input")
    assert t_train.by_layer()[layer.name] == 2 * 6 * 6 * 3 * 8  # x, for the kernel gradient
    assert t_frozen.by_layer().get(layer.name, 0) == 0  # only the Parameter's own kernel
    assert layer.kernel.grad is None and below.kernel.grad is not None


def test_frozen_stem_records_nothing():
    layer = Conv2D(4, 3, activation="relu")
    layer(np.ones((1, 5, 5, 2)))
    layer.trainable = False
    with trace() as tr:
        y = layer(np.ones((1, 5, 5, 2)))
    assert tr.nodes == 0 and not y.requires_grad


def test_output_channel_mask_limits_weight_gradient_work(conv_kit):
    x = np.random.default_rng(3).standard_normal((2, 6, 6, 3))
    kwargs = dict(filters=8, kernel_size=3, padding="same")
    full, masked = conv_kit.twin_layers(Conv2D, kwargs, x)
    frozen = np.array([True, False, True, True, False, True, True, True])  # 2 of 8 train
    masked.set_freeze_mask("kernel", frozen, axis=-1)
    works = conv_kit.weight_gradient_work((full, masked), x, np.ones((2, 6, 6, 8)))
    assert works[1] * 8 == works[0] * 2
    g_full, g_masked = full.kernel.grad.numpy(), masked.kernel.grad.numpy()
    np.testing.assert_array_equal(g_masked[..., frozen], 0.0)
    np.testing.assert_allclose(g_masked[..., ~frozen], g_full[..., ~frozen], rtol=1e-12)
    np.testing.assert_allclose(masked.bias.grad.numpy(), full.bias.grad.numpy(), rtol=1e-12)
    assert masked.kernel.trainable_count() == 3 * 3 * 3 * 2
    assert len(masked.trainable_weights) == 2



def test_matches_ops_conv2d_directly():
    """The layer adds nothing to the op: same numbers as calling ops.conv2d with its weights."""
    rng = np.random.default_rng(4)
    layer = Conv2D(3, 3, strides=2, padding="same", activation="relu6", dtype="float64")
    x = rng.standard_normal((1, 7, 7, 2))
    y = layer(x).numpy()
    want = ops.conv2d(pyfrozen.tensor(x), layer.kernel, layer.bias, strides=2, padding="same",
                      activation="relu6").numpy()
    np.testing.assert_array_equal(y, want)
