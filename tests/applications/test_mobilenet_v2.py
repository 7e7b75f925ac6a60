"""MobileNetV2: Keras's counts, names, residual structure and alpha rounding; weights."""

from __future__ import annotations

import numpy as np
import pytest

from pyfrozen.applications import MobileNetV2, mobilenet_v2
from pyfrozen.layers import Add, ZeroPadding2D


def test_alpha_rounds_filters_to_multiples_of_8_and_widens_the_last_conv():
    slim = MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), include_top=False)
    assert slim.get_layer("Conv1").filters == 16  # 32 * 0.35 = 11.2 -> 16
    assert slim.get_layer("expanded_conv_project").filters == 8  # 16 * 0.35 = 5 -> 8
    assert slim.get_layer("block_16_project").filters == 112  # 320 * 0.35 = 112
    assert slim.get_layer("Conv_1").filters == 1280  # no alpha below 1
    wide = MobileNetV2(alpha=1.3, input_shape=(64, 64, 3), include_top=False)
    assert wide.get_layer("Conv_1").filters == 1664  # 1280 * 1.3 rounded to 8


def test_residual_adds_and_stride2_padding_follow_keras():
    model = MobileNetV2(alpha=0.35, input_shape=(72, 64, 3), include_top=False)
    adds = [layer.name for layer in model.layers if isinstance(layer, Add)]
    assert adds == [f"block_{i}_add" for i in (2, 4, 5, 7, 8, 9, 11, 12, 14, 15)]
    pads = {layer.name: layer.padding for layer in model.layers
            if isinstance(layer, ZeroPadding2D)}
    # TF's 'same' at stride 2: one less row/column on top/left for even sizes (36 x 32 in
    # block 1), (1, 1) for odd ones (9 x 8 in block 6).
    assert pads["block_1_pad"] == ((0, 1), (0, 1))
    assert pads["block_6_pad"] == ((1, 1), (0, 1))
    assert model.get_layer("block_6_depthwise").padding == "valid"
    names = [layer.name for layer in model.layers]
    assert names[1:4] == ["Conv1", "bn_Conv1", "Conv1_relu"]
    assert "block_0_expand" not in names and names[-1] == "out_relu"
    bn = model.get_layer("block_3_expand_BN")
    assert (bn.momentum, bn.epsilon) == (0.999, 1e-3)


def test_top_and_pooling_variants():
    top = MobileNetV2(alpha=0.35, input_shape=(64, 64, 3), classes=7)
    assert top.outputs[0].shape == (None, 7)
    out = top.predict(np.zeros((2, 64, 64, 3), np.float32))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    logits = MobileNetV2(alpha=0.35, input_shape=(64, 64, 3), classes=7,
                         classifier_activation=None)
    assert logits.get_layer("predictions").get_config()["activation"] == "linear"
    for pooling in ("avg", "max"):
        pooled = MobileNetV2(alpha=0.35, include_top=False, pooling=pooling,
                             input_shape=(64, 64, 3))
        assert pooled.outputs[0].shape == (None, 1280)


def test_preprocess_input_is_the_tf_mode():
    out = mobilenet_v2.preprocess_input(np.array([[0, 127.5, 255]], dtype=np.float32))
    np.testing.assert_array_equal(out, [[-1.0, 0.0, 1.0]])
    assert mobilenet_v2.preprocess_input(np.array([0, 255], dtype=np.uint8)).dtype == np.float32


def test_alpha_must_be_positive():
    with pytest.raises(ValueError, match="alpha must be positive"):
        MobileNetV2(alpha=0)
