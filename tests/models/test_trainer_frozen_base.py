"""fit with a frozen MobileNet base: the base stays bit-identical (weights and BN moving
statistics) and a fit step runs no backward kernel below the head."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers


def _transfer_model():
    base = pyfrozen.applications.MobileNet(alpha=0.25, include_top=False, weights=None,
                                           input_shape=(32, 32, 3))
    base.trainable = False
    inputs = pyfrozen.Input((32, 32, 3))
    x = base(inputs, training=False)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(3, name="head")(x)
    return base, pyfrozen.Model(inputs, outputs)


@pytest.fixture
def images():
    rng = np.random.default_rng(7)
    return rng.uniform(-1, 1, (12, 32, 32, 3)).astype(np.float32), rng.integers(0, 3, 12)


def test_frozen_base_is_bit_identical_after_fit(images, sparse_ce):
    x, y = images
    base, model = _transfer_model()
    stats = [w for w in base.weights if w.name in ("moving_mean", "moving_variance")]
    assert stats
    before = [w.data.copy() for w in base.weights]
    head = model.get_layer("head").kernel.data.copy()
    model.compile(pyfrozen.optimizers.Adam(0.01, weight_decay=0.1), loss=sparse_ce)
    model.fit(x, y, epochs=2, batch_size=4, validation_split=0.25, verbose=0)
    for a, w in zip(before, base.weights, strict=True):
        assert a.tobytes() == w.data.tobytes(), w.name
    assert not np.array_equal(head, model.get_layer("head").kernel.data)
    assert all(model.optimizer.state_of(w) is None for w in base.weights)


def test_a_fit_step_runs_no_backward_below_the_head(images, sparse_ce):
    x, y = images
    base, model = _transfer_model()
    model.compile("sgd", loss=sparse_ce)
    model.train_on_batch(x[:4], y[:4])  # build everything first
    with pyfrozen.autograd.trace() as t:
        model.train_on_batch(x[:4], y[:4])
    backward = {r.layer for r in t.kernels if r.pass_.startswith("backward")}
    assert backward == {"head", "softmax_cross_entropy"}
    assert t.ran(layer="head", pass_="backward_weight")
    assert not t.ran(layer="head", pass_="backward_input")  # nothing below needs it
    assert t.nodes <= 2  # the head's dense and the loss
    assert {r.layer for r in t.kernels} >= {"conv1", "conv_pw_13"}  # the base ran forward


def test_unfreezing_the_top_blocks_trains_them_at_the_next_step(images, sparse_ce):
    x, y = images
    base, model = _transfer_model()
    model.compile(pyfrozen.optimizers.SGD(0.01), loss=sparse_ce)
    model.train_on_batch(x[:4], y[:4])
    top = base.get_layer("conv_pw_13")
    bn = base.get_layer("conv_pw_13_bn")
    mean = bn.moving_mean.data.copy()
    base.trainable = True
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization) or not layer.name.startswith(
                "conv_pw_13"):
            layer.trainable = False
    with pytest.warns(UserWarning, match="trainable weights changed"):
        model.train_on_batch(x[:4], y[:4])
    # (random untrained blocks shrink activations to ~1e-16, so the update itself is below
    # float32 resolution: the optimizer's own count shows the weight took part.)
    assert model.optimizer.state_of(top.kernel)["step"] == 1
    assert np.abs(top.kernel.grad.data).max() > 0
    assert model.optimizer.state_of(bn.gamma) is None
    np.testing.assert_array_equal(mean, bn.moving_mean.data)  # BN stays in inference mode


def test_the_per_step_weight_walk_matches_weights_and_trainable_weights():
    base, model = _transfer_model()
    base.trainable = True
    base.get_layer("conv_dw_3").trainable = False
    walked, states = model._weights_and_states()
    assert {w.name for w in states} == {"moving_mean", "moving_variance"}
    assert [id(w) for w in walked] == [id(w) for w in model.weights]
    trainable = [w for w in walked if w.trainable and w.requires_grad]
    assert [id(w) for w in trainable] == [id(w) for w in model.trainable_weights]
