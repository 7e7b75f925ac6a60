"""ResNet50: Keras's counts, names and block structure; caffe preprocessing; weights."""

from __future__ import annotations

import numpy as np

from pyfrozen.applications import ResNet50, resnet50
from pyfrozen.layers import Add, Conv2D


def test_with_the_top_keras_has_177_layers():
    model = ResNet50()
    assert len(model.layers) == 177
    assert [layer.name for layer in model.layers][-2:] == ["avg_pool", "predictions"]


def test_block_structure_follows_keras():
    model = ResNet50(include_top=False, input_shape=(64, 64, 3))
    names = [layer.name for layer in model.layers]
    assert names[1:8] == ["conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu", "pool1_pad",
                          "pool1_pool", "conv2_block1_1_conv"]
    # Keras's order: the shortcut conv sits beside the main branch's last conv (same depth).
    assert names[13:17] == ["conv2_block1_0_conv", "conv2_block1_3_conv", "conv2_block1_0_bn",
                            "conv2_block1_3_bn"]
    shortcuts = [n for n in names if n.endswith("_0_conv")]
    assert shortcuts == [f"conv{s}_block1_0_conv" for s in (2, 3, 4, 5)]
    assert sum(isinstance(layer, Add) for layer in model.layers) == 16
    assert sum(isinstance(layer, Conv2D) for layer in model.layers) == 53
    # The stride of a stage sits on the first 1x1 convolution, as in Keras (not the 3x3).
    assert model.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert model.get_layer("conv3_block1_2_conv").strides == (1, 1)
    assert model.get_layer("conv2_block1_1_conv").strides == (1, 1)
    assert model.get_layer("conv1_bn").epsilon == 1.001e-5
    assert model.get_layer("conv1_conv").use_bias


def test_pooling_variants_and_logits():
    for pooling, name in (("avg", "avg_pool"), ("max", "max_pool")):
        model = ResNet50(include_top=False, pooling=pooling, input_shape=(32, 32, 3))
        assert model.outputs[0].shape == (None, 2048) and model.layers[-1].name == name
    logits = ResNet50(input_shape=(32, 32, 3), classes=3, classifier_activation=None)
    assert logits.outputs[0].shape == (None, 3)


def test_preprocess_input_is_caffe_mode():
    rgb = np.array([[[10, 20, 30]]], dtype=np.uint8)
    out = resnet50.preprocess_input(rgb)
    assert out.dtype == np.float32
    # BGR order, minus the ImageNet mean of each channel (B, G, R)
    np.testing.assert_allclose(out, [[[30 - 103.939, 20 - 116.779, 10 - 123.68]]], rtol=1e-6)
    x = np.full((1, 2, 2, 3), 100.0)
    before = x.copy()
    assert resnet50.preprocess_input(x).dtype == np.float64
    np.testing.assert_array_equal(x, before)  # a new array; Keras modifies float input
