"""ZeroPadding2D -> convolution as one convolution with explicit padding
(models/pad_fold.py): the same values and gradients as the two layers, no padded copy
made or saved, and the pad run as written wherever the fold does not apply."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import applications, layers
from pyfrozen.autograd import trace
from pyfrozen.models import Model, fusion
from pyfrozen.utils import set_random_seed


def _model(conv: str, padding, kernel: int = 3, strides: int = 2, pad_is_output=False):
    inputs = layers.Input((9, 9, 3))
    padded = layers.ZeroPadding2D(padding)(inputs)
    if conv == "depthwise":
        y = layers.DepthwiseConv2D(kernel, strides=strides, depth_multiplier=2)(padded)
    else:
        y = layers.Conv2D(4, kernel, strides=strides, activation="relu6")(padded)
    model = Model(inputs, [y, padded] if pad_is_output else y)
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(size=w.shape) for w in model.weights])
    return model


def _step(model: Model, x: np.ndarray, fold: bool):
    """Output, input gradient, weight gradients and bytes saved for backward."""
    before = fusion.enabled
    fusion.enabled = fold
    try:
        xt = pyfrozen.tensor(x, requires_grad=True)
        for w in model.trainable_weights:
            w.grad = None
        with trace() as t:
            out = model(xt, training=True)
            y = out[0] if isinstance(out, list) else out
            (y * y).sum().backward()
    finally:
        fusion.enabled = before
    return (y.numpy(), xt.grad.numpy(), [w.grad.numpy() for w in model.trainable_weights],
            t.saved_bytes)


def _assert_same(got, want):
    for a, b in zip(got[:2] + tuple(got[2]), want[:2] + tuple(want[2]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("conv", ["depthwise", "conv"])
@pytest.mark.parametrize("padding", [((0, 1), (0, 1)), 1, ((2, 0), (1, 2))])
def test_a_folded_pad_gives_the_values_and_gradients_of_the_two_layers(conv, padding):
    model = _model(conv, padding)
    assert len(model._graph.pad_folds) == 1
    x = np.random.default_rng(0).normal(size=(2, 9, 9, 3)).astype(np.float32)
    got, want = _step(model, x, True), _step(model, x, False)
    _assert_same(got, want)
    # The convolution saves the unpadded input instead of the padded copy.
    (top, bottom), (left, right) = layers.ZeroPadding2D(padding).padding
    padded = 2 * (9 + top + bottom) * (9 + left + right) * 3 * 4
    assert want[3] - got[3] == padded - x.nbytes


def test_a_pad_that_is_also_an_output_or_feeds_two_layers_runs():
    assert not _model("conv", 1, pad_is_output=True)._graph.pad_folds
    inputs = layers.Input((9, 9, 3))
    padded = layers.ZeroPadding2D(1)(inputs)
    two = Model(inputs, layers.Add()([layers.Conv2D(3, 1)(padded), padded]))
    assert not two._graph.pad_folds
    x = np.ones((1, 9, 9, 3), np.float32)
    assert two.predict_on_batch(x).shape == (1, 11, 11, 3)


def test_padding_wider_than_the_kernel_runs_the_pad():
    # The kernels take padding smaller than the dilated kernel: a 1x1 kernel takes none.
    model = _model("conv", 1, kernel=1, strides=1)
    assert len(model._graph.pad_folds) == 1  # planned, declined at the call
    x = np.random.default_rng(0).normal(size=(2, 9, 9, 3)).astype(np.float32)
    got, want = _step(model, x, True), _step(model, x, False)
    _assert_same(got, want)
    assert got[3] == want[3]


@pytest.mark.parametrize("case", ["lora_after_planning", "same_padding"])
def test_a_convolution_that_cannot_take_the_padding_gets_the_padded_input(case):
    # Planned when the graph is made; declined at the call: LoRA enabled later on the
    # convolution (its adapted path reads the layer's own padding), or a "same" conv.
    inputs = layers.Input((9, 9, 3))
    padded = layers.ZeroPadding2D(((0, 1), (2, 0)))(inputs)
    conv = layers.DepthwiseConv2D(3, strides=2, padding="same" if case == "same_padding"
                                  else "valid")
    model = Model(inputs, conv(padded))
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(size=w.shape) for w in model.weights])
    assert len(model._graph.pad_folds) == 1
    if case == "lora_after_planning":
        conv.enable_lora(2)  # B is zero at first: random, so the adapter changes the output
        model.set_weights([rng.normal(size=w.shape) for w in model.weights])
    x = rng.normal(size=(2, 9, 9, 3)).astype(np.float32)
    got, want = _step(model, x, True), _step(model, x, False)
    _assert_same(got, want)
    assert got[3] == want[3]  # the padded copy is saved: nothing was folded
    assert got[0].shape == want[0].shape == ((2, 5, 6, 3) if case == "same_padding"
                                             else (2, 4, 5, 3))


def test_a_mobilenet_training_step_is_unchanged_and_saves_less():
    model = applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, weights=None,
                                   classes=5)
    assert len(model._graph.pad_folds) == 4  # before each stride-2 depthwise convolution
    model.compile(pyfrozen.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    y = np.arange(4) % 5
    start = [w.copy() for w in model.get_weights()]
    after, saved = {}, {}
    for fold in (True, False):
        model.set_weights(start)
        set_random_seed(0)  # the head's Dropout draws the same mask
        fusion.enabled = fold
        try:
            with trace() as t:
                model.train_on_batch(x, y)
        finally:
            fusion.enabled = True
        after[fold], saved[fold] = model.get_weights(), t.saved_bytes
    for a, b in zip(after[True], after[False], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert saved[True] < saved[False]
