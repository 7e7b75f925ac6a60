"""Dropout: identity unless training; inverted dropout when training."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers
from pyfrozen.autograd import trace
from pyfrozen.models import Model
from pyfrozen.testing import check_layer


@pytest.mark.parametrize("training", [None, False])
@pytest.mark.parametrize(("kwargs", "shape"), [
    ({"rate": 0.5}, (2, 3)),
    ({"rate": 0.2, "seed": 7}, (2, 2, 2, 3)),
    ({"rate": 0.0}, (4, 1)),
])
def test_identity_unless_training(kwargs, shape, training):
    report = check_layer(layers.Dropout, kwargs, shape, expected_output_shape=shape,
                         expected_num_trainable_weights=0, expected_num_params=0,
                         training=training)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(report.output, x)


@pytest.mark.parametrize("rate", [0.25, 0.5])
def test_training_drops_and_scales(rate):
    layer = layers.Dropout(rate, seed=3, dtype="float64")
    data = np.random.default_rng(1).uniform(1.0, 2.0, (50, 40))
    x = pyfrozen.tensor(data, requires_grad=True)
    y = layer(x, training=True)
    kept = y.numpy() != 0
    assert abs(1 - kept.mean() - rate) < 0.03
    np.testing.assert_allclose(y.numpy()[kept], data[kept] / (1 - rate), rtol=1e-15)
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(x.grad.numpy(), kept / (1 - rate))


def test_seed_gives_a_reproducible_sequence_of_masks():
    x = np.ones((4, 64))
    first, second = layers.Dropout(0.5, seed=11), layers.Dropout(0.5, seed=11)
    a1, a2 = first(x, training=True).numpy(), first(x, training=True).numpy()
    b1, b2 = second(x, training=True).numpy(), second(x, training=True).numpy()
    assert not np.array_equal(a1, a2)  # successive calls drop different elements
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)


def test_rate_zero_and_inference_record_nothing():
    x = pyfrozen.tensor(np.ones((2, 3)), requires_grad=True)
    with trace() as tr:
        assert layers.Dropout(0.0, dtype="float64")(x, training=True) is x
        y = layers.Dropout(0.5, dtype="float64")(x, training=False)
    assert tr.nodes == 0 and y is x


def test_saves_only_the_keep_mask():
    x = pyfrozen.tensor(np.ones((8, 16)), requires_grad=True)
    with trace() as tr:
        layers.Dropout(0.5, seed=0, dtype="float64")(x, training=True)
    assert tr.nodes == 1 and tr.saved_bytes == x.size  # one byte per element


def test_training_flag_comes_from_the_model_call():
    inputs = layers.Input((100,))
    model = Model(inputs, layers.Dropout(0.5, seed=0)(inputs))
    x = np.ones((2, 100), dtype=np.float32)
    assert np.any(model(x, training=True).numpy() == 0)
    np.testing.assert_array_equal(model(x).numpy(), x)
    np.testing.assert_array_equal(model.predict(x), x)
    fixed = layers.Input((100,))
    outer = Model(fixed, layers.Dropout(0.5)(fixed, training=False))
    np.testing.assert_array_equal(outer(x, training=True).numpy(), x)


def test_frozen_layer_still_drops_and_passes_gradients():
    layer = layers.Dropout(0.5, seed=2, dtype="float64")
    layer.trainable = False
    x = pyfrozen.tensor(np.ones((4, 8)), requires_grad=True)
    y = layer(x, training=True)
    y.sum().backward()
    assert np.any(y.numpy() == 0)
    np.testing.assert_array_equal(x.grad.numpy(), (y.numpy() != 0) * 2.0)


def test_config():
    config = layers.Dropout(0.3, seed=5).get_config()
    assert config["rate"] == 0.3 and config["seed"] == 5 and config["noise_shape"] is None
    assert layers.Dropout.from_config(config).seed == 5
    assert layers.Dropout(0.1).name.startswith("dropout")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"rate": -0.1}, r"`rate`. Expected a float value between 0 and 1.*Received: rate=-0.1"),
    ({"rate": 1}, "Received: rate=1"),
    ({"rate": 1.5}, "rate=1.5"),
    ({"rate": "0.5"}, "rate='0.5'"),
    ({"rate": 0.5, "noise_shape": (None, 1)}, r"noise_shape is not supported.*\(None, 1\)"),
    ({"rate": 0.5, "seed": 1.5}, "seed.*None or an int. Received: seed=1.5"),
])
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Dropout(**kwargs)

