"""Every layer type through export(format="onnx"), run in onnxruntime, against predict.

Each case is a small functional model around the layer, with random weights (moving
statistics included); most put a convolution in front so the layer also meets a
channels-first value inside the ONNX graph (the layouts of pyfrozen.saving.onnx_builder).
"""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers as L
from pyfrozen.saving.onnx_layers import CONVERTERS

TOL = 1e-4


def _image(shape=(7, 9, 3)):
    return L.Input(shape, name="image")


def _conv(x, filters=4):
    return L.Conv2D(filters, 3, padding="same", name="stem")(x)


def _model(inputs, outputs):
    return pyfrozen.Model(inputs, outputs)


def _case(body, shape=(7, 9, 3), stem=True):
    """A model ``body(stem(image))``; with ``stem`` False the body sees the NHWC input."""
    def build():
        inputs = _image(shape)
        x = _conv(inputs) if stem else inputs
        return _model(inputs, body(x))
    return build


ACTIVATIONS = ["linear", "relu", "relu6", "sigmoid", "tanh", "softmax", "log_softmax"]

CASES = {
    # Dense, on 2-D and 3-D inputs, every activation, with and without bias
    **{f"dense_{a}": _case(lambda x, a=a: L.Dense(5, activation=a)(L.Flatten()(x)))
       for a in ACTIVATIONS},
    "dense_no_bias_3d": _case(lambda x: L.Dense(3, use_bias=False)(L.Reshape((9, 28))(x))),
    "dense_on_4d": _case(lambda x: L.Dense(3, activation="relu")(x)),
    # Convolutions: padding, strides, dilation, groups, fused activations, no bias
    "conv_valid": _case(lambda x: L.Conv2D(5, (2, 3))(x), stem=False),
    "conv_same_stride2_odd": _case(lambda x: L.Conv2D(5, 3, strides=2, padding="same",
                                                      activation="relu6")(x), stem=False),
    "conv_same_even_kernel": _case(lambda x: L.Conv2D(5, 4, strides=(2, 3),
                                                      padding="same")(x), stem=False),
    "conv_dilated": _case(lambda x: L.Conv2D(3, 3, dilation_rate=2, padding="same",
                                             activation="tanh")(x)),
    "conv_groups": _case(lambda x: L.Conv2D(6, 3, groups=2, use_bias=False,
                                            activation="sigmoid")(x)),
    "conv_softmax": _case(lambda x: L.Conv2D(3, 1, activation="softmax")(x)),
    "depthwise": _case(lambda x: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same",
                                                   activation="relu")(x)),
    "depthwise_stride2_valid": _case(lambda x: L.DepthwiseConv2D(3, strides=2)(x)),
    "depthwise_dilated_no_bias": _case(lambda x: L.DepthwiseConv2D(
        3, dilation_rate=(2, 1), use_bias=False, padding="same")(x)),
    "separable": _case(lambda x: L.SeparableConv2D(5, 3, depth_multiplier=2, strides=2,
                                                   padding="same", activation="relu")(x)),
    "separable_no_bias": _case(lambda x: L.SeparableConv2D(3, (3, 2), use_bias=False)(x),
                               stem=False),
    # BatchNormalization with moving statistics, ranks 2 to 4, with and without scale
    "bn_4d": _case(lambda x: L.BatchNormalization()(x)),
    "bn_4d_on_input": _case(lambda x: L.BatchNormalization(epsilon=0.1)(x), stem=False),
    "bn_2d": _case(lambda x: L.BatchNormalization()(L.Flatten()(x))),
    "bn_3d_no_scale_center": _case(lambda x: L.BatchNormalization(
        scale=False, center=False)(L.Reshape((63, 4))(x))),
    # Activation layers
    **{f"activation_{a}": _case(lambda x, a=a: L.Activation(a)(x)) for a in ACTIVATIONS},
    "relu": _case(lambda x: L.ReLU()(x)),
    "relu_max6": _case(lambda x: L.ReLU(max_value=6.0)(x)),
    "relu6": _case(lambda x: L.ReLU6()(x)),
    "softmax_axis1_after_conv": _case(lambda x: L.Softmax(axis=1)(x)),
    "softmax_on_input": _case(lambda x: L.Softmax()(x), stem=False),
    # Pooling
    "maxpool": _case(lambda x: L.MaxPooling2D()(x)),
    "maxpool_same_stride1": _case(lambda x: L.MaxPooling2D(3, strides=1, padding="same")(x)),
    "avgpool_same": _case(lambda x: L.AveragePooling2D(3, strides=2, padding="same")(x)),
    "avgpool_valid_on_input": _case(lambda x: L.AveragePooling2D((2, 3))(x), stem=False),
    "global_avg": _case(lambda x: L.GlobalAveragePooling2D()(x)),
    "global_avg_keepdims": _case(lambda x: L.GlobalAveragePooling2D(keepdims=True)(x)),
    "global_max": _case(lambda x: L.GlobalMaxPooling2D()(x)),
    "global_max_keepdims": _case(lambda x: L.GlobalMaxPool2D(keepdims=True)(x)),
    # Spatial and shape layers
    "zero_padding": _case(lambda x: L.ZeroPadding2D(((0, 1), (2, 1)))(x)),
    "zero_padding_on_input": _case(lambda x: L.ZeroPadding2D(2)(x), stem=False),
    "upsampling": _case(lambda x: L.UpSampling2D((2, 3))(x)),
    "upsampling_on_input": _case(lambda x: L.UpSampling2D(2)(x), stem=False),
    "flatten_after_conv": _case(lambda x: L.Flatten()(x)),
    "reshape_after_conv": _case(lambda x: L.Reshape((-1, 6))(x)),
    "dropout": _case(lambda x: L.Dropout(0.5)(x)),
    "rescaling": _case(lambda x: L.Rescaling(1 / 127.5, offset=-1)(x)),
    "rescaling_scale_only": _case(lambda x: L.Rescaling(0.5)(x)),
    "rescaling_per_channel": _case(lambda x: L.Rescaling([0.5, 2.0, -1.0, 3.0],
                                                         offset=[1.0, 0.0, 2.0, -1.0])(x)),
    # Merging: channels-first (after a conv) and channels-last (the input) branches meet
    "add": _case(lambda x: L.Add()([x, L.Conv2D(4, 1)(x), L.ReLU()(x)])),
    "add_mixed_layouts": lambda: _mixed(L.Add()),
    "concatenate": _case(lambda x: L.Concatenate()([x, L.Conv2D(2, 1)(x)])),
    "concatenate_axis1": _case(lambda x: L.Concatenate(axis=1)([x, x])),
    "concatenate_mixed_layouts": lambda: _mixed(L.Concatenate(axis=2)),
    "concatenate_2d": _case(lambda x: L.Concatenate(axis=1)([L.Flatten()(x),
                                                             L.GlobalAveragePooling2D()(x)])),
}


def _mixed(merge):
    inputs = _image((6, 6, 4))
    return _model(inputs, merge([inputs, L.Conv2D(4, 3, padding="same")(inputs)]))


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_matches_predict(max_error, randomize, case):
    model = CASES[case]()
    randomize(model, seed=len(case))
    shape = (3, *model.inputs[0].shape[1:])
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    assert max_error(model, x) <= TOL


def test_every_layer_class_has_a_converter():
    # A layer added to pyfrozen.layers without an ONNX converter fails here.
    skip = {L.Layer, L.InputLayer}
    classes = {getattr(L, n) for n in L.__all__ if isinstance(getattr(L, n), type)}
    layer_classes = {c for c in classes if issubclass(c, L.Layer)} - skip
    missing = sorted(c.__name__ for c in layer_classes if c not in CONVERTERS)
    assert not missing, f"layers without an ONNX converter: {missing}"


# ---------------------------------------------------------------------------------------
# Embedding and integer inputs
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["int64", "int32", "float32"])
def test_embedding_indices(max_error, randomize, dtype):
    tokens = L.Input((5,), dtype=dtype, name="tokens")
    x = L.Embedding(11, 4)(tokens)
    x = L.Flatten()(x)
    model = _model(tokens, L.Dense(2)(x))
    randomize(model)
    ids = np.random.default_rng(0).integers(0, 11, size=(3, 5)).astype(dtype)
    assert max_error(model, ids) <= TOL


def test_uint8_images_are_cast_like_predict(max_error, randomize):
    images = L.Input((6, 6, 3), dtype="uint8", name="pixels")
    x = L.Rescaling(1 / 255)(images)
    model = _model(images, L.Conv2D(2, 3)(x))
    randomize(model)
    pixels = np.random.default_rng(0).integers(0, 256, size=(2, 6, 6, 3)).astype(np.uint8)
    assert max_error(model, pixels) <= TOL
