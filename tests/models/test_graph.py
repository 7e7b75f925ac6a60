"""The functional graph: execution order, shared layers, disconnection, freeing intermediates."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

from pyfrozen.layers import Add, Dense, Input, Layer
from pyfrozen.models import Model
from pyfrozen.models.graph import Graph


class Tag(Layer):
    """Appends its name to ``log`` when called; multiplies by 2."""

    log: list = []

    def call(self, x):
        Tag.log.append(self.name)
        return x * 2.0

    def compute_output_shape(self, input_shape):
        return input_shape


def test_graph_disconnected():  # moved from test_model.py's test_graph_errors
    a, b = Input((2,)), Input((2,))
    y = Dense(1)(b)
    with pytest.raises(ValueError, match="Graph disconnected"):
        Model(a, y)


def test_inputs_and_outputs_must_be_symbolic():
    x = Input((2,))
    with pytest.raises(ValueError, match="must be symbolic tensors"):
        Graph(x, np.ones((1, 2)))
    with pytest.raises(ValueError, match="must be symbolic tensors"):
        Graph([x, "nope"], x)


def test_diamond_runs_each_node_once_after_its_inputs():
    x = Input((3,))
    top = Tag(name="top")(x)
    left, right = Tag(name="left")(top), Tag(name="right")(top)
    out = Add(name="join")([left, right])
    graph = Graph(x, out)
    names = [node.layer.name for node in graph.nodes]
    assert names == ["top", "left", "right", "join"]
    assert [layer.name for layer in graph.layers()] == [x.node.layer.name, *names]
    Tag.log.clear()
    result = Model(x, out)(np.ones((1, 3)))
    assert Tag.log == ["top", "left", "right"]
    np.testing.assert_array_equal(result.numpy(), np.full((1, 3), 8.0))


def test_a_shared_layer_called_twice_is_one_layer_with_two_nodes():
    x = Input((3,), dtype="float64")
    shared = Dense(3, name="shared", dtype="float64")
    out = shared(shared(x))
    model = Model(x, out)
    assert [node.layer for node in model._graph.nodes] == [shared, shared]
    assert [layer.name for layer in model.layers][1:] == ["shared"]
    assert model.count_params() == 12 and len(model.trainable_weights) == 2
    data = np.random.default_rng(0).standard_normal((2, 3))
    k, b = shared.kernel.numpy(), shared.bias.numpy()
    np.testing.assert_allclose(model.predict(data), (data @ k + b) @ k + b, rtol=1e-12)


def test_an_output_that_is_an_input_needs_no_node():
    x, y = Input((2,)), Input((3,))
    graph = Graph([x, y], [Dense(1)(x), y])
    assert len(graph.nodes) == 1 and isinstance(graph.nodes[0].layer, Dense)
    a, b = np.ones((1, 2), np.float32), np.arange(3, dtype=np.float32).reshape(1, 3)
    out = Model([x, y], [graph.outputs[0], y])([a, b])
    assert out[0].shape == (1, 1)
    np.testing.assert_array_equal(out[1].numpy(), b)


class Remember(Layer):
    """Keeps a weak reference to each output it makes."""

    refs: list = []

    def call(self, x):
        out = x * 2.0
        Remember.refs.append(weakref.ref(out))
        return out

    def compute_output_shape(self, input_shape):
        return input_shape


class Alive(Layer):
    """Records, when called, which of Remember's outputs are still alive."""

    seen: list = []

    def call(self, x):
        Alive.seen.append([r() is not None for r in Remember.refs])
        return x * 1.0

    def compute_output_shape(self, input_shape):
        return input_shape


def test_intermediates_are_dropped_after_their_last_use():
    x = Input((4,))
    first = Remember()(x)   # used by second only
    second = Remember()(first)  # used by the Alive layers and by the Add
    probe = Alive()(second)
    out = Add()([Alive()(probe), second])
    model = Model(x, out)
    Remember.refs.clear()
    Alive.seen.clear()
    model(np.ones((2, 4), np.float32))
    # first's output is gone once second ran; second's lives until the Add consumed it.
    assert Alive.seen == [[False, True], [False, True]]
    assert [r() is None for r in Remember.refs] == [True, True]


def residual_and_two_inputs(lib):
    """A shortcut branch shorter than the main one, and a second input joining late."""
    layers = lib.layers
    x, extra = layers.Input((3,), name="x"), layers.Input((3,), name="extra")
    shortcut = layers.Dense(3, name="shortcut")(x)
    main = layers.Dense(3, name="main_3")(layers.Dense(3, name="main_2")(
        layers.Dense(3, name="main_1")(x)))
    out = layers.Add(name="late")([layers.Add(name="join")([shortcut, main]), extra])
    return lib.Model([x, extra], out)


def test_layers_come_in_keras_order_by_depth_then_first_visit():
    # Keras lists layers by decreasing depth (longest path to an output), ties in the
    # order a depth-first walk from the outputs first reaches them: "shortcut" is as far
    # from the output as "main_3", and the second input only one step away.
    import pyfrozen

    model = residual_and_two_inputs(pyfrozen)
    assert [layer.name for layer in model.layers] == [
        "x", "main_1", "main_2", "shortcut", "main_3", "join", "extra", "late"]
    assert [node.layer.name for node in model._graph.nodes] == [
        "shortcut", "main_1", "main_2", "main_3", "join", "late"]  # execution: unchanged


def test_layer_order_is_keras_order(keras):
    import pyfrozen

    theirs = residual_and_two_inputs(keras)
    ours = residual_and_two_inputs(pyfrozen)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
