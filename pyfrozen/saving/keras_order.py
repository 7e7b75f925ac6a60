"""Keras 3's numbering of a layer's calls (``inbound_nodes``) in config.json.

The layers themselves come in Keras's order from ``Graph.layers()`` (by depth from the
outputs, ties by first visit: keras/src/ops/function.py ``map_graph``), which Keras's
weight groups (``dense``, ``dense_1``, ...) and config.json rely on.
"""

from __future__ import annotations

from typing import Any

from pyfrozen.layers.layer import Layer


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
