"""Symbolic tensors: how functional models are described.

``Input(shape)`` returns a :class:`KerasTensor`, a placeholder with a shape (batch
None) and a dtype. Calling a layer on KerasTensors builds the layer from their
shapes and records a :class:`CallNode` (layer, inputs, explicit call arguments,
outputs) instead of computing; ``Model(inputs, outputs)`` later replays the nodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class KerasTensor:
    """A symbolic tensor: shape (``None`` for the batch), dtype, and the node making it.

    Args:
        shape: full shape, batch dimension included.
        dtype: "float32", "float64" or an integer dtype name.
        name: optional label.
    """

    def __init__(self, shape: tuple[int | None, ...], dtype: str = "float32",
                 name: str | None = None) -> None:
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype).name
        self.name = name
        self.node: CallNode | None = None  # the call that produces it
        self.index = 0  # which output of that call

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        source = f", produced by {self.node.layer.name!r}" if self.node is not None else ""
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}{source}>"

    def _no_ops(self, *_: Any) -> Any:
        raise TypeError(
            "arithmetic on symbolic tensors is not supported: use layers such as "
            "pyfrozen.layers.Add or Rescaling in functional models"
        )

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _no_ops
    __truediv__ = __matmul__ = __getitem__ = _no_ops


def is_symbolic(value: Any) -> bool:
    """Whether ``value`` (or the first of a list) is a KerasTensor."""
    if isinstance(value, (list, tuple)) and value:
        return isinstance(value[0], KerasTensor)
    return isinstance(value, KerasTensor)


class CallNode:
    """One call of a layer inside a functional graph.

    Attributes:
        layer: the layer called.
        inputs: flat list of input KerasTensors.
        input_structure: the inputs as given (one tensor or a list).
        outputs: flat list of output KerasTensors.
        output_structure: one tensor or a list.
        kwargs: call arguments given explicitly (``training`` when it was set).
    """

    def __init__(self, layer: Any, inputs: Any, kwargs: dict[str, Any], outputs: Any) -> None:
        self.layer = layer
        self.input_structure = inputs
        self.inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self.output_structure = outputs
        self.outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        self.kwargs = kwargs
        for i, t in enumerate(self.outputs):
            t.node, t.index = self, i
        layer._inbound_nodes.append(self)

    @property
    def parents(self) -> list[CallNode]:
        return [t.node for t in self.inputs if t.node is not None]


def _symbolic_shape(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [t.shape for t in x]
    return x.shape


def symbolic_call(layer: Any, args: tuple, training: bool | None, kwargs: dict) -> Any:
    """``layer(*args)`` on KerasTensors: builds the layer and records a CallNode."""
    inputs = args[0]
    if len(args) > 1:
        raise TypeError(f"{layer.name}: functional calls take one input (or a list of inputs)")
    shape = _symbolic_shape(inputs)
    layer._maybe_build(shape)
    out_shape = layer.compute_output_shape(shape)
    dtype = layer.dtype
    if isinstance(out_shape, list):
        outputs: Any = [KerasTensor(s, dtype or "float32") for s in out_shape]
    else:
        outputs = KerasTensor(out_shape, _output_dtype(layer, inputs, dtype))
    call_kwargs = dict(kwargs)
    if training is not None:
        call_kwargs["training"] = bool(training)
    CallNode(layer, inputs, call_kwargs, outputs)
    return outputs


def _output_dtype(layer: Any, inputs: Any, dtype: str | None) -> str:
    if getattr(layer, "passes_input_dtype", False) and isinstance(inputs, KerasTensor):
        return inputs.dtype
    return dtype or "float32"


