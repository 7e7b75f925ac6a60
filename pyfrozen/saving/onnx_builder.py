"""The ONNX graph under construction: values with their layouts, nodes, weights, names.

pyfrozen is channels-last (NHWC) throughout; ONNX's Conv, pooling and
BatchNormalization are channels-first (NCHW). Each 4-D value therefore carries its
layout, and a converter asks for the layout it needs (:meth:`OnnxGraph.nchw` /
:meth:`OnnxGraph.nhwc`): a Transpose is added only when the layout changes, and at most
once per value. With ``layout="nchw"`` (the default) a convolution's output stays NCHW,
so a whole conv/BN/activation chain runs channels-first between one transpose at the
input and one where channels-last order matters again (Flatten, Dense, the outputs).
``layout="nhwc"`` transposes every spatial op's output back at once (the other
strategy, kept for bench/onnx_layout.py).

The ``onnx`` package is imported by the caller and passed in: this module never
imports it, so importing pyfrozen never needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Position in the NHWC order of each NCHW axis, and the inverse.
TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)

LAYOUTS = ("nchw", "nhwc")


@dataclass(frozen=True)
class Value:
    """One tensor of the ONNX graph.

    Attributes:
        name: its ONNX name.
        shape: its shape in pyfrozen's (NHWC) order, None for unknown dimensions.
        dtype: numpy dtype name ("float32", "int64", ...).
        nchw: True when a 4-D value is stored channels-first in the ONNX graph.
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    nchw: bool = False

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def onnx_axis(self, axis: int) -> int:
        """The ONNX axis of pyfrozen's (NHWC) ``axis`` of this value."""
        axis %= self.ndim
        return TO_NCHW.index(axis) if self.nchw else axis


class OnnxGraph:
    """Collects nodes and initializers; hands out unique names.

    Args:
        onnx: the imported ``onnx`` package.
        layout: "nchw" (keep channels-first between spatial ops) or "nhwc" (transpose
            back after each of them).
    """

    def __init__(self, onnx: Any, layout: str = "nchw") -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"export(format='onnx'): layout must be one of {LAYOUTS}. "
                             f"Received: layout={layout!r}")
        self.onnx = onnx
        self.layout = layout
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = set()
        self._weights: dict[tuple, str] = {}  # (id(Parameter), transform) -> name
        self._transposed: dict[tuple[str, bool], Value] = {}

    # --- names and constants ----------------------------------------------------------------

    def unique(self, name: str) -> str:
        """``name``, or ``name_1``, ``name_2``, ... if taken."""
        candidate, count = name, 0
        while candidate in self._names:
            count += 1
            candidate = f"{name}_{count}"
        self._names.add(candidate)
        return candidate

    def constant(self, array: Any, name: str) -> str:
        """An initializer holding ``array`` (copied); returns its name."""
        unique = self.unique(name)
        tensor = self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), unique)
        self.initializers.append(tensor)
        return unique

    def weight(self, param: Any, name: str, transform: Any = None) -> str:
        """An initializer for a layer's weight (``transform`` applied to its value, e.g.
        HWIO -> OIHW); a layer called twice (shared) stores it once."""
        key = (id(param), transform)
        if key not in self._weights:
            array = param.data if transform is None else transform(param.data)
            self._weights[key] = self.constant(array, name)
        return self._weights[key]

    def ints(self, values: Any, name: str) -> str:
        """An int64 initializer (shapes, pads, axes)."""
        return self.constant(np.asarray(values, dtype=np.int64), name)

    # --- nodes -----------------------------------------------------------------------------

    def node(self, op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        """Adds one node with one output, named after ``name``; returns the output's name."""
        out = self.unique(name)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def value(self, like: Value, name: str, shape: tuple | None = None, dtype: str | None = None,
              nchw: bool | None = None) -> Value:
        """A Value named ``name`` with ``like``'s attributes unless given."""
        return Value(name, like.shape if shape is None else tuple(shape),
                     like.dtype if dtype is None else dtype,
                     like.nchw if nchw is None else nchw)

    # --- layouts ---------------------------------------------------------------------------

    def nchw(self, value: Value) -> Value:
        """``value`` stored channels-first (a Transpose added if needed); 4-D only."""
        return self._in_layout(value, True)

    def nhwc(self, value: Value) -> Value:
        """``value`` in pyfrozen's channels-last order (a Transpose added if needed)."""
        return self._in_layout(value, False) if value.nchw else value

    def _in_layout(self, value: Value, nchw: bool) -> Value:
        if value.ndim != 4:
            raise ValueError(f"internal: layout change of the {value.ndim}-D value "
                             f"{value.name!r}")
        if value.nchw == nchw:
            return value
        key = (value.name, nchw)
        if key not in self._transposed:  # a value read by several layers: one Transpose
            suffix = "nchw" if nchw else "nhwc"
            out = self.node("Transpose", [value.name], f"{value.name}_{suffix}",
                            perm=list(TO_NCHW if nchw else TO_NHWC))
            self._transposed[key] = self.value(value, out, nchw=nchw)
        return self._transposed[key]

    def spatial_output(self, value: Value) -> Value:
        """The output of a channels-first op as the chosen strategy keeps it."""
        return self.nhwc(value) if self.layout == "nhwc" else value

    def same_layout(self, values: list[Value]) -> list[Value]:
        """``values`` all in one layout (NCHW if any 4-D one is), for elementwise ops."""
        if all(v.ndim == 4 for v in values) and any(v.nchw for v in values):
            return [self.nchw(v) for v in values]
        return [self.nhwc(v) for v in values]

    def cast(self, value: Value, dtype: str) -> Value:
        """``value`` converted to ``dtype`` (a Cast node when it differs)."""
        if value.dtype == dtype:
            return value
        to = self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        out = self.node("Cast", [value.name], f"{value.name}_{dtype}", to=to)
        return self.value(value, out, dtype=dtype)

    # --- the model -------------------------------------------------------------------------

    def value_info(self, name: str, value: Value, batch: str) -> Any:
        """A graph input/output description: unknown batch as ``batch``, other unknown
        dimensions as named symbols."""
        dims: list[Any] = [batch if d is None and i == 0 else
                           f"{name}_dim{i}" if d is None else d
                           for i, d in enumerate(value.shape)]
        elem = self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(value.dtype))
        return self.onnx.helper.make_tensor_value_info(name, elem, dims)
