"""Sequential: a plain stack of layers, each feeding the next."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyfrozen.layers.input_layer import InputLayer
from pyfrozen.layers.layer import Layer, shape_of, unique_name
from pyfrozen.layers.symbolic import KerasTensor
from pyfrozen.models.graph import Graph
from pyfrozen.models.model import Model


class Sequential(Model):
    """A model whose layers run one after the other.

    As soon as the input shape is known (an ``Input`` as first layer, an
    ``input_shape=`` argument on the first layer, ``build(input_shape)``, or the first
    call) the stack becomes a functional graph, so ``summary()`` shows output shapes
    and ``layer.output`` works.

    Args:
        layers: initial layers (an ``Input(...)`` first is allowed).
        name: default "sequential" (with a counter).
        trainable: whether the layers train.

    Freezing:
        As for :class:`Model`: ``trainable = False`` freezes every layer in the stack.

    Example:

    >>> import numpy as np, pyfrozen
    >>> from pyfrozen.layers import Dense, Input
    >>> model = pyfrozen.models.Sequential([Input((4,)), Dense(8, activation="relu"), Dense(2)])
    >>> model.predict(np.ones((5, 4))).shape, model.count_params()
    ((5, 2), 58)
    """

    def __init__(self, layers: Sequence[Any] | None = None, name: str | None = None,
                 trainable: bool = True, **kwargs: Any) -> None:
        super().__init__(name=name or unique_name("sequential"), trainable=trainable, **kwargs)
        self._explicit_name = name is not None
        self._stack: list[Layer] = []
        self._own_nodes: list[Any] = []
        self.built = False
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Any) -> None:
        """Appends a layer (or an ``Input(...)`` as the very first entry)."""
        if isinstance(layer, KerasTensor):
            layer = layer.node.layer
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a Layer, got {type(layer).__name__}")
        if isinstance(layer, InputLayer) and self._stack:
            raise ValueError("an Input can only be the first layer of a Sequential model")
        if any(layer is other for other in self._stack):
            raise ValueError(f"layer {layer.name!r} is already in this Sequential model")
        self._stack.append(layer)
        if not self.trainable:
            layer.trainable = False  # a frozen model freezes the layers added to it
        self._tracked = [x for x in self._stack if not isinstance(x, InputLayer)]
        self._rebuild()

    def pop(self) -> Layer:
        """Removes and returns the last layer."""
        body = [x for x in self._stack if not isinstance(x, InputLayer)]
        if not body:
            raise ValueError("there is no layer to remove")
        self._stack.remove(body[-1])
        self._tracked = body[:-1]
        self._rebuild()
        return body[-1]

    @property
    def layers(self) -> list[Layer]:
        """The layers, without the input layer (as Keras)."""
        return [x for x in self._stack if not isinstance(x, InputLayer)]

    def _input_batch_shape(self) -> tuple | None:
        if self._stack and isinstance(self._stack[0], InputLayer):
            return self._stack[0].batch_shape
        body = self.layers
        if body and body[0]._declared_input_shape is not None:
            return (None, *body[0]._declared_input_shape)
        return None

    def _rebuild(self, batch_shape: tuple | None = None) -> None:
        for node in self._own_nodes:  # forget the graph of the previous stack
            node.layer._inbound_nodes.remove(node)
        self._own_nodes = []
        self._graph = None
        self.built = False
        shape = batch_shape or self._input_batch_shape()
        if shape is None or not self.layers:
            return
        first = self._stack[0]
        if not isinstance(first, InputLayer):
            first = InputLayer(shape=shape[1:], batch_size=shape[0])
            self._stack.insert(0, first)
        x = first.output
        for layer in self.layers:
            x = layer(x)
            self._own_nodes.append(layer._inbound_nodes[-1])
        self._set_graph(Graph(first.output, x))
        self._tracked = self.layers

    def build(self, input_shape: Any) -> None:
        """Builds the graph for inputs of ``input_shape`` (batch dimension included)."""
        self._rebuild(tuple(input_shape))

    def _maybe_build(self, input_shape: Any) -> None:
        if self._graph is None:
            self._rebuild((None, *input_shape[1:]))
        self.built = self._graph is not None

    def _cast_input(self, x: Any) -> Any:
        if self._graph is None and self.layers:
            self._rebuild((None, *shape_of(x)[1:]))
        return super()._cast_input(x)
