"""Rescaling: inputs * scale + offset."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import layers
from pyfrozen.autograd import trace
from pyfrozen.models import Model
from pyfrozen.testing import check_layer


@pytest.mark.parametrize(("kwargs", "shape"), [
    ({"scale": 1 / 255}, (2, 3)),
    ({"scale": 1 / 127.5, "offset": -1}, (2, 2, 2, 3)),
    ({"scale": 2, "offset": 0.5}, (4,)),
    ({"scale": [1.0, 2.0, 3.0], "offset": np.array([0.0, 0.5, -1.0])}, (2, 4, 3)),
])
def test_rescaling(kwargs, shape):
    report = check_layer(layers.Rescaling, kwargs, shape, expected_output_shape=shape,
                         expected_num_trainable_weights=0, expected_num_params=0)
    x = np.random.default_rng(0).standard_normal(shape)
    want = x * np.asarray(kwargs["scale"]) + np.asarray(kwargs.get("offset", 0.0))
    np.testing.assert_allclose(report.output, want, rtol=1e-6, atol=1e-6)


def test_integer_images_become_floats():
    pixels = np.array([[[[0, 128, 255]]]], dtype=np.uint8)
    report = check_layer(layers.Rescaling, {"scale": 1 / 127.5, "offset": -1.0}, pixels.shape,
                         input_data=pixels)
    assert report.output.dtype == np.float32
    np.testing.assert_allclose(report.output, pixels / 127.5 - 1, atol=1e-6)
    inputs = layers.Input((2, 2, 3), dtype="uint8")
    x = layers.Rescaling(1 / 255)(inputs)
    assert x.dtype == "float32"
    model = Model(inputs, layers.Flatten()(x))
    out = model.predict(np.full((3, 2, 2, 3), 255, dtype=np.uint8))
    np.testing.assert_allclose(out, np.ones((3, 12)), rtol=1e-6)


def test_config_round_trip_and_values():
    layer = layers.Rescaling(np.array([0.5, 2.0]), offset=np.float32(1.0))
    config = layer.get_config()
    assert config["scale"] == [0.5, 2.0] and config["offset"] == 1.0
    clone = layers.Rescaling.from_config(config)
    np.testing.assert_array_equal(clone(np.ones((1, 2))).numpy(), [[1.5, 3.0]])


def test_symbolic_shape_broadcasts_with_constants():
    assert layers.Rescaling(0.5)(layers.Input((None, 3))).shape == (None, None, 3)
    assert layers.Rescaling([1.0, 2.0, 3.0])(layers.Input((4, 1))).shape == (None, 4, 3)
    with pytest.raises(ValueError, match=r"`scale` of shape \(3,\).*\(None, 4, 2\)"):
        layers.Rescaling([1.0, 2.0, 3.0])(layers.Input((4, 2)))


@pytest.mark.parametrize("bad", ["a", None, [1.0, "x"]])
def test_argument_errors(bad):
    with pytest.raises(ValueError, match="`scale` argument of Rescaling must be a number"):
        layers.Rescaling(bad)
    with pytest.raises(ValueError, match="`offset` argument"):
        layers.Rescaling(1.0, offset=bad)


def test_freezing_changes_nothing_and_gradient_is_scaled():
    data = np.random.default_rng(1).standard_normal((2, 3))
    for trainable in (True, False):
        x = pyfrozen.tensor(data, requires_grad=True)
        layers.Rescaling(0.25, offset=3.0, dtype="float64", trainable=trainable)(x).sum(
            ).backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 0.25))
    with trace() as tr:
        layers.Rescaling(0.25, dtype="float64")(pyfrozen.tensor(data))
    assert tr.nodes == 0



def test_a_nested_list_is_one_input_and_a_list_of_arrays_a_clear_error():
    layer = layers.Rescaling(2.0, offset=1.0)
    np.testing.assert_array_equal(layer([[0, 1], [2, 3]]).data,
                                  np.array([[1, 3], [5, 7]], np.float32))
    with pytest.raises(TypeError, match=r"Rescaling 'rescale' takes one tensor, received a list "
                       r"of 2 inputs \[\(1, 2\), \(1, 2\)\]"):
        layers.Rescaling(2.0, name="rescale")([np.ones((1, 2)), np.ones((1, 2))])
