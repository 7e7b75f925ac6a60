"""The functional graph: which layer calls a model replays, in which order.

Built once from the model's symbolic inputs and outputs by walking the recorded
CallNodes backwards; replayed on every call with real tensors, each intermediate
tensor dropped as soon as its last consumer ran.
"""

from __future__ import annotations

from typing import Any

from pyfrozen.layers.symbolic import CallNode, KerasTensor


def flat(structure: Any) -> list[Any]:
    """A tensor or a list/tuple of them, as a list."""
    return list(structure) if isinstance(structure, (list, tuple)) else [structure]


class Graph:
    """The CallNodes between ``inputs`` and ``outputs`` in execution order.

    Raises:
        ValueError: an output depends on a symbolic tensor that is not among the inputs
            ("graph disconnected"), or inputs/outputs are not KerasTensors.
    """

    def __init__(self, inputs: Any, outputs: Any) -> None:
        self.inputs: list[KerasTensor] = flat(inputs)
        self.outputs: list[KerasTensor] = flat(outputs)
        self.output_is_list = isinstance(outputs, (list, tuple))
        self.input_is_list = isinstance(inputs, (list, tuple))
        for t in self.inputs + self.outputs:
            if not isinstance(t, KerasTensor):
                raise ValueError(f"Model inputs and outputs must be symbolic tensors "
                                 f"(from pyfrozen.layers.Input and layer calls), got {t!r}")
        self.nodes = self._order()
        self.last_use = self._last_uses()

    def _order(self) -> list[CallNode]:
        known = {id(t) for t in self.inputs}
        order: list[CallNode] = []
        seen: set[int] = set()
        for out in self.outputs:
            if id(out) in known:
                continue
            stack = [(out.node, 0)]
            while stack:
                node, i = stack[-1]
                if id(node) in seen:
                    stack.pop()
                    continue
                if i < len(node.inputs):
                    stack[-1] = (node, i + 1)
                    t = node.inputs[i]
                    if id(t) not in known and id(t.node) not in seen:
                        stack.append((t.node, 0))
                    continue
                stack.pop()
                if not node.inputs:  # an InputLayer that is not one of the model's inputs
                    raise ValueError(
                        f"Graph disconnected: the model needs the value of {node.layer.name!r} "
                        "(an Input), which is not among the model's inputs"
                    )
                seen.add(id(node))
                order.append(node)
        return order

    def _last_uses(self) -> dict[int, int]:
        last: dict[int, int] = {}
        for i, node in enumerate(self.nodes):
            for t in node.inputs:
                last[id(t)] = i
        for t in self.outputs:
            last[id(t)] = len(self.nodes)  # kept until returned
        return last

    def layers(self) -> list[Any]:
        """Every layer called, the input layers of the inputs first, each once."""
        out: list[Any] = []
        for t in self.inputs:
            if t.node is not None and t.node.layer not in out:
                out.append(t.node.layer)
        for node in self.nodes:
            if node.layer not in out:
                out.append(node.layer)
        return out

    def run(self, inputs: list[Any]) -> Any:
        """Replays the graph on real inputs (one per symbolic input)."""
        values = {id(t): v for t, v in zip(self.inputs, inputs, strict=True)}
        for i, node in enumerate(self.nodes):
            args = [values[id(t)] for t in node.inputs]
            x = args if isinstance(node.input_structure, (list, tuple)) else args[0]
            result = node.layer(x, **node.kwargs)
            for t, v in zip(node.outputs, flat(result), strict=True):
                values[id(t)] = v
            for t in node.inputs:
                if self.last_use.get(id(t)) == i:
                    values.pop(id(t), None)
        results = [values[id(t)] for t in self.outputs]
        return results if self.output_is_list else results[0]
