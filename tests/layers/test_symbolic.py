"""KerasTensor and CallNode: what calling a layer on symbolic inputs records."""

from __future__ import annotations

import numpy as np
import pytest

from pyfrozen.layers import Dense, Flatten, Input, Layer
from pyfrozen.layers.symbolic import KerasTensor, is_symbolic


def test_keras_tensor_shape_dtype_repr():
    t = KerasTensor((None, np.int64(2), 3), "float64", name="t")
    assert t.shape == (None, 2, 3) and type(t.shape[1]) is int and t.ndim == 3
    assert t.dtype == "float64" and t.node is None and t.name == "t"
    assert repr(t) == "<KerasTensor shape=(None, 2, 3), dtype=float64>"
    y = Dense(4, name="proj")(Input((3,)))
    assert repr(y) == "<KerasTensor shape=(None, 4), dtype=float32, produced by 'proj'>"
    assert KerasTensor((1,), np.int32).dtype == "int32"


def test_arithmetic_on_symbolic_tensors_is_refused():
    x = Input((2,))
    with pytest.raises(TypeError, match="arithmetic on symbolic tensors"):  # from test_model.py
        x + x
    for op in (lambda: 1.0 - x, lambda: x * 2.0, lambda: x / 2.0, lambda: x @ x,
               lambda: x[0], lambda: 2.0 * x):
        with pytest.raises(TypeError, match="use layers such as pyfrozen.layers.Add"):
            op()


def test_a_layer_call_records_one_node():
    x = Input((3,), name="features")
    layer = Dense(2, name="head")
    y = layer(x, training=False)
    node = y.node
    assert node.layer is layer and layer._inbound_nodes == [node] and layer.built
    assert node.inputs == [x] and node.input_structure is x and node.outputs == [y]
    assert node.kwargs == {"training": False} and y.index == 0
    assert node.parents == [x.node] and x.node.parents == []
    assert Dense(2)(x).node.kwargs == {}  # training given only when set


def test_output_dtype_follows_the_layer_or_passes_integers_through():
    ids = Input((2, 3), dtype="int32")
    assert Flatten()(ids).dtype == "int32"  # token ids stay integers
    assert Dense(2)(Input((3,), dtype="float64")).dtype == "float32"  # a float32 layer
    assert Dense(2, dtype="float64")(Input((3,))).dtype == "float64"


def test_is_symbolic():
    x = Input((2,))
    assert is_symbolic(x) and is_symbolic([x, x]) and is_symbolic((x,))
    assert not is_symbolic(np.ones(2)) and not is_symbolic([]) and not is_symbolic([1.0, x])


def test_a_functional_call_takes_one_input():
    class Two(Layer):
        def call(self, a, b):
            return a + b

    x = Input((2,))
    with pytest.raises(TypeError, match="functional calls take one input"):
        Two(name="two")(x, x)
