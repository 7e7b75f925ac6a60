"""Sequential: building from the first call or a known input shape, add/pop, freezing."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import trace
from pyfrozen.layers import Dense, Input, InputLayer
from pyfrozen.models import Sequential


def test_sequential_builds_from_the_first_call():
    model = Sequential([Dense(5), Dense(2)])
    assert not model.built
    y = model(np.ones((3, 7)))
    assert y.shape == (3, 2) and model.built and model.count_params() == 40 + 12
    assert [layer.name for layer in model.layers][0].startswith("dense")


def test_a_frozen_sequential_freezes_layers_added_later():
    model = Sequential([Input((4,))])
    model.trainable = False
    model.add(Dense(3))
    assert not model.layers[0].kernel.requires_grad and model.trainable_weights == []
    x = pyfrozen.tensor(np.ones((2, 4), np.float32), requires_grad=True)
    with trace() as t:
        model(x).backward(np.ones((2, 3), np.float32))
    assert not t.ran(pass_="backward_weight") and model.layers[0].kernel.grad is None


@pytest.mark.parametrize("how", ["input", "input_shape", "build"])
def test_a_known_input_shape_builds_the_graph_at_once(how):
    if how == "input":
        model = Sequential([Input((3,)), Dense(4, name="a"), Dense(2)])
    elif how == "input_shape":
        model = Sequential([Dense(4, name="a", input_shape=(3,)), Dense(2)])
    else:
        model = Sequential([Dense(4, name="a"), Dense(2)])
        assert not model.built
        model.build((None, 3))
    assert model.built and model.count_params() == 16 + 10
    assert model.get_layer("a").output.shape == (None, 4)
    assert model.outputs[0].shape == (None, 2) and model.inputs[0].shape == (None, 3)
    assert not any(isinstance(layer, InputLayer) for layer in model.layers)  # as Keras
    assert len(model.layers) == 2


def test_add_and_pop_rebuild_the_graph():
    model = Sequential([Input((3,)), Dense(4)])
    model.add(Dense(2, name="last"))
    assert model.outputs[0].shape == (None, 2)
    assert model.pop().name == "last"
    assert model.outputs[0].shape == (None, 4) and model.predict(np.ones((1, 3))).shape == (1, 4)
    model.pop()
    assert model.layers == [] and not model.built
    with pytest.raises(ValueError, match="no layer to remove"):
        model.pop()


def test_add_errors():
    dense = Dense(2)
    model = Sequential([Input((3,)), dense])
    with pytest.raises(TypeError, match="Sequential.add expects a Layer, got int"):
        model.add(3)
    with pytest.raises(ValueError, match="an Input can only be the first layer"):
        model.add(Input((2,)))
    with pytest.raises(ValueError, match="is already in this Sequential model"):
        model.add(dense)
