"""The order in which Keras 3 lists a functional model's layers, and its node numbering.

Keras keys weight groups by a per-class counter over ``model.layers`` (``dense``,
``dense_1``, ...), so two models whose layer lists differ in order swap the weights of
same-class layers. pyfrozen lists layers in call order; Keras lists them by depth from
the outputs (deepest first), ties broken by the order a depth-first walk from the
outputs first meets them (keras/src/ops/function.py ``map_graph``). This module
computes Keras's order from a pyfrozen graph, for the weight layout and config.json.
"""

from __future__ import annotations

from typing import Any

from pyfrozen.layers.layer import Layer


def _walk(inputs: list[Any], outputs: list[Any]) -> tuple[list[Any], dict[int, int]]:
    """Nodes from inputs to outputs (post-order) and each layer's first-visit index."""
    done: set[int] = set()
    ordered: list[Any] = []
    first_seen: dict[int, int] = {}
    input_ids = {id(t) for t in inputs}

    def visit(tensor: Any) -> None:
        node = tensor.node
        if node is None or id(node) in done:
            return
        if node.inputs and id(tensor) in input_ids:  # an intermediate tensor as input
            done.add(id(node))
            return
        first_seen.setdefault(id(node.layer), len(first_seen))
        for parent in node.inputs:
            visit(parent)
        done.add(id(node))
        ordered.append(node)

    for out in outputs:
        visit(out)
    return ordered, first_seen


def keras_layer_order(inputs: list[Any], outputs: list[Any]) -> list[Layer]:
    """The layers between ``inputs`` and ``outputs`` in Keras 3's ``model.layers`` order."""
    ordered, first_seen = _walk(inputs, outputs)
    in_graph = {id(n) for n in ordered}
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    layers: dict[int, Layer] = {}
    for node in reversed(ordered):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        layers[id(node.layer)] = node.layer
        node_depth[id(node)] = depth
        for parent in (t.node for t in node.inputs):
            if parent is not None and id(parent) in in_graph:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    for t in inputs:  # inputs that no output uses still count, first among equals
        if t.node is not None and not t.node.inputs and id(t.node.layer) not in layer_depth:
            layer_depth[id(t.node.layer)] = 0
            layers[id(t.node.layer)] = t.node.layer
            first_seen[id(t.node.layer)] = -1
    return sorted(layers.values(),
                  key=lambda layer: (-layer_depth[id(layer)], first_seen[id(layer)]))


def node_indices(layers: list[Layer], nodes: list[Any]) -> dict[int, int]:
    """id(node) -> its index among its layer's calls that belong to ``nodes``, in the
    order the calls were made (Keras renumbers a model's nodes the same way)."""
    wanted = {id(n) for n in nodes}
    index: dict[int, int] = {}
    for layer in layers:
        k = 0
        for node in layer._inbound_nodes:
            if id(node) in wanted:
                index[id(node)] = k
                k += 1
    return index
