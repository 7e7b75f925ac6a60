"""Input and InputLayer: shapes, dtypes, config, and their place in models."""

from __future__ import annotations

import numpy as np
import pytest

from pyfrozen.layers import Dense, Input, InputLayer
from pyfrozen.models import Model


def test_input_shape_batch_size_and_name():
    x = Input((28, 28, 1), name="image")
    assert x.shape == (None, 28, 28, 1) and x.dtype == "float32" and x.name == "image"
    assert isinstance(x.node.layer, InputLayer) and x.node.layer.name == "image"
    assert x.node.inputs == [] and x.node.layer.output is x
    assert Input(5).shape == (None, 5)  # an int is a one-dimensional sample
    assert Input((3,), batch_size=8).shape == (8, 3)
    assert Input((3,)).node.layer.name.startswith("input_layer")


@pytest.mark.parametrize(("dtype", "layer_dtype"), [
    (None, "float32"), ("float64", "float64"), (np.float64, "float64"), ("int32", None),
    ("uint8", None)])
def test_dtypes(dtype, layer_dtype):
    x = Input((2,), dtype=dtype)
    assert x.dtype == np.dtype(dtype or "float32").name
    if layer_dtype is not None:
        assert x.node.layer.dtype == layer_dtype


def test_config_round_trips():
    layer = InputLayer(shape=(4, 2), batch_size=3, dtype="int64", name="ids")
    config = layer.get_config()
    assert config == {"shape": (4, 2), "batch_size": 3, "dtype": "int64", "name": "ids"}
    clone = InputLayer.from_config({**config, "name": "ids_2"})
    assert clone.batch_shape == (3, 4, 2) and clone.output.dtype == "int64"


def test_input_layer_needs_a_shape_and_has_no_weights():
    with pytest.raises(ValueError, match="needs a shape"):
        InputLayer()
    layer = InputLayer(shape=(2,))
    assert layer.built and layer.weights == [] and layer.count_params() == 0
    data = np.ones((1, 2), np.float32)
    assert layer(data).numpy().tolist() == [[1.0, 1.0]]


def test_models_list_input_layers_first_and_check_input_shapes():
    x = Input((3,), name="in_x")
    model = Model(x, Dense(1, name="d")(x))
    assert [layer.name for layer in model.layers] == ["in_x", "d"]
    assert model.inputs == [x]
    with pytest.raises(ValueError, match=r"input in_x expects shape \(None, 3\)"):
        model(np.ones((2, 4)))
    fixed = Input((3,), batch_size=2)
    with pytest.raises(ValueError, match=r"expects shape \(2, 3\), received \(4, 3\)"):
        Model(fixed, Dense(1)(fixed))(np.ones((4, 3)))
