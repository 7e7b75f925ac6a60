"""MobileNet V1: Keras's structure, names and parameter counts; freezing; weights."""

from __future__ import annotations

import numpy as np

from pyfrozen.applications import MobileNet
from pyfrozen.applications.mobilenet import preprocess_input
from pyfrozen.models import Model


def counts(model):
    s = model.summary(print_fn=lambda text: None)
    return s.total_params, s.trainable_params, s.non_trainable_params


def test_alpha_1_at_224_has_the_keras_counts():
    model = MobileNet(alpha=1.0, include_top=False, input_shape=(224, 224, 3))
    assert counts(model) == (3_228_864, 3_206_976, 21_888)
    assert model.name == "mobilenet_1.00_224"
    assert model.outputs[0].shape == (None, 7, 7, 1024)


def test_alpha_025_at_96_and_freezing_moves_every_count():
    model = MobileNet(alpha=0.25, include_top=False, input_shape=(96, 96, 3))
    assert counts(model) == (218_544, 213_072, 5_472)
    model.trainable = False
    assert counts(model) == (218_544, 0, 218_544)
    text = str(model.summary(print_fn=lambda text: None))
    assert " Non-trainable params: 218,544 (853.69 KB)" in text
    assert "conv_pw_13_bn (BatchNormalization)" in text


def test_layer_names_and_padding_follow_keras():
    model = MobileNet(alpha=0.25, include_top=False, input_shape=(96, 96, 3))
    names = [layer.name for layer in model.layers]
    assert names[1:5] == ["conv1", "conv1_bn", "conv1_relu", "conv_dw_1"]
    assert "conv_pad_2" in names and "conv_pad_3" not in names
    assert names[-1] == "conv_pw_13_relu" and len(names) == 87 - 1  # Keras adds a pooling
    assert model.get_layer("conv_dw_2").padding == "valid"
    assert model.get_layer("conv_pw_13").kernel.shape == (1, 1, 256, 256)


def test_top_and_pooling_variants():
    top = MobileNet(alpha=0.25, input_shape=(64, 64, 3), classes=7)
    assert top.outputs[0].shape == (None, 7)
    assert [layer.name for layer in top.layers][-5:] == [
        top.layers[-5].name, "dropout", "conv_preds", "reshape_2", "predictions"]
    out = top.predict(np.zeros((2, 64, 64, 3), np.float32))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    avg = MobileNet(alpha=0.25, include_top=False, pooling="avg", input_shape=(64, 64, 3))
    assert avg.outputs[0].shape == (None, 256)


def test_cut_at_a_named_layer_like_the_tfjs_webcam_example():
    base = MobileNet(alpha=0.25, input_shape=(224, 224, 3))
    cut = Model(base.inputs, base.get_layer("conv_pw_13_relu").output)
    assert cut.outputs[0].shape == (None, 7, 7, 256)
    assert counts(cut)[0] == 218_544


def test_preprocess_input_scales_to_minus_one_one():
    out = preprocess_input(np.array([0, 127.5, 255], dtype=np.float32))
    np.testing.assert_array_equal(out, [-1.0, 0.0, 1.0])
    assert preprocess_input(np.array([0, 255], dtype=np.uint8)).dtype == np.float32
