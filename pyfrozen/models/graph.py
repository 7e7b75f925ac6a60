"""The functional graph: which layer calls a model replays, in which order.

Built once from the model's symbolic inputs and outputs by walking the recorded
CallNodes backwards; replayed on every call with real tensors, each intermediate
tensor dropped as soon as its last consumer ran.
"""

from __future__ import annotations

from typing import Any

from pyfrozen.layers.layer import resolve_training
from pyfrozen.layers.symbolic import CallNode, KerasTensor
from pyfrozen.models import bn_activation, fusion, pad_fold


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
        self._layers = self._keras_layer_order()
        calls = [fusion.Call(n.layer, [id(t) for t in n.inputs], [id(t) for t in n.outputs],
                             _plain(n)) for n in self.nodes]
        kept = {id(t) for t in self.outputs}
        self.chains = fusion.plan(calls, kept)
        self.pad_folds = pad_fold.plan(calls, kept)
        self.bn_activations = bn_activation.plan(calls, kept)

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

    def called_layers(self) -> list[Any]:
        """The layers of the nodes in execution order, each once (no input layers): the
        order weight-file paths are numbered in, fixed before ``layers()`` took Keras's."""
        return list({id(node.layer): node.layer for node in self.nodes}.values())

    def layers(self) -> list[Any]:
        """Every layer called, each once, in Keras's order (see ``_keras_layer_order``)."""
        return list(self._layers)

    def _first_visits(self) -> dict[int, int]:
        """id(layer) -> when a depth-first walk from the outputs first enters it (Keras's
        tie-break); the walk stops at the model's inputs, whose layers it still enters."""
        input_nodes = {id(t.node) for t in self.inputs}
        index: dict[int, int] = {}
        visited: set[int] = set()
        stack = [out.node for out in reversed(self.outputs) if out.node is not None]
        while stack:
            node = stack.pop()
            if id(node) in visited:
                continue
            visited.add(id(node))
            index.setdefault(id(node.layer), len(index))
            if id(node) not in input_nodes:
                # children pushed last-first, so that the first input is entered first
                stack.extend(t.node for t in reversed(node.inputs) if t.node is not None)
        return index

    def _keras_layer_order(self) -> list[Any]:
        """The layers by decreasing depth (the longest path to an output), ties by first
        visit: Keras's ``Functional.layers`` order. Weight files keyed by position
        (Keras's ``.weights.h5`` groups) and configs depend on it, so that a Keras file
        maps onto the same layers here; execution order (``nodes``) is separate."""
        layers: dict[int, Any] = {}  # id(layer) -> layer, each once
        for node in [t.node for t in self.inputs if t.node is not None] + self.nodes:
            layers.setdefault(id(node.layer), node.layer)
        depth: dict[int, int] = {}  # id(node) -> depth
        layer_depth: dict[int, int] = {}  # id(layer) -> depth, the deepest of its calls
        for node in reversed(self.nodes):  # every consumer before its producers
            d = max(depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
            depth[id(node)] = layer_depth[id(node.layer)] = d
            for parent in node.parents:
                depth[id(parent)] = max(depth.get(id(parent), 0), d + 1)
        for t in self.inputs:  # the input layers' nodes are not among self.nodes
            if t.node is not None:
                d = max(depth.get(id(t.node), 0), layer_depth.get(id(t.node.layer), 0))
                layer_depth[id(t.node.layer)] = d
        first = self._first_visits()

        def deepest_then_first(layer: Any) -> tuple[int, int]:
            # Unconnected inputs: depth 0 and first of their depth, as in Keras.
            return -layer_depth.get(id(layer), 0), first.get(id(layer), -1)

        return sorted(layers.values(), key=deepest_then_first)

    def run(self, inputs: list[Any]) -> Any:
        """Replays the graph on real inputs (one per symbolic input); conv -> BN -> ReLU
        chains that record nothing run as one call (pyfrozen.models.fusion), a
        training-mode BN -> ReLU pair as one op (pyfrozen.models.bn_activation)."""
        values = {id(t): v for t, v in zip(self.inputs, inputs, strict=True)}
        fused: set[int] = set()  # calls already done by a fused chain
        for i, node in enumerate(self.nodes):
            if i in fused:
                continue
            fold = self.pad_folds.get(i)
            if fold is not None:  # run by its convolution (models/pad_fold.py)
                values[id(node.outputs[0])] = pad_fold.Padded(
                    values[id(node.inputs[0])], fold, node.kwargs.get("training"))
                self._release_inputs(values, node, i)
                continue
            if self._ran_bn_activation(values, node, i, fused):
                continue
            padded, pads = self._padded_input(values, node)
            chain = self.chains.get(i)
            y = None if chain is None else fusion.run(
                chain, values[id(node.inputs[0])] if padded is None else
                pad_fold.conv_input(padded.x, padded.fold),
                resolve_training(self.nodes[chain.bn_index].kwargs.get("training")),
                pads, None if padded is None else padded.padded_shape())
            if y is None and padded is not None:
                values[id(node.outputs[0])] = pad_fold.run_conv(padded, pads)
            elif y is not None:
                values[chain.output] = y
                fused.update(chain.skipped)
            else:
                args = [values[id(t)] for t in node.inputs]
                x = args if isinstance(node.input_structure, (list, tuple)) else args[0]
                result = node.layer(x, **node.kwargs)
                for t, v in zip(node.outputs, flat(result), strict=True):
                    values[id(t)] = v
            self._release_inputs(values, node, i)
        results = [values[id(t)] for t in self.outputs]
        return results if self.output_is_list else results[0]

    def _ran_bn_activation(self, values: dict[int, Any], node: CallNode, i: int,
                           fused: set[int]) -> bool:
        """Runs call ``i`` and its activation as one op if they pair now."""
        pair = self.bn_activations.get(i)
        y = None if pair is None else bn_activation.run(
            pair, values[id(node.inputs[0])], resolve_training(node.kwargs.get("training")))
        if y is None:
            return False
        values[pair.output] = y
        fused.add(pair.act_index)
        self._release_inputs(values, node, i)
        return True

    def _release_inputs(self, values: dict[int, Any], node: CallNode, i: int) -> None:
        for t in node.inputs:
            if self.last_use.get(id(t)) == i:
                values.pop(id(t), None)

    @staticmethod
    def _padded_input(values: dict[int, Any], node: CallNode
                      ) -> tuple[pad_fold.Padded | None, tuple | None]:
        """A folded pad's output this call reads: with its padding if the convolution
        takes it now; otherwise the pad runs here and (None, None)."""
        if not node.inputs:
            return None, None
        value = values.get(id(node.inputs[0]))
        if not isinstance(value, pad_fold.Padded):
            return None, None
        pads = value.pads()
        if pads is None:
            values[id(node.inputs[0])] = value.materialize()
            return None, None
        return value, pads


def _plain(node: CallNode) -> bool:
    """One input and no call arguments but ``training``: a call fusion may replace."""
    return not isinstance(node.input_structure, (list, tuple)) and len(node.inputs) == 1 and (
        set(node.kwargs) <= {"training"})
