"""Merging layers: Add and Concatenate, called on a list of inputs.

``build`` and ``compute_output_shape`` receive a list of shapes (batch first, None
where unknown); shapes are checked at build time and on every call, and errors name
every input shape.
"""

from __future__ import annotations

from functools import reduce
from typing import Any

from pyfrozen import ops
from pyfrozen.layers._args import is_int
from pyfrozen.layers.layer import Layer, shape_of


def _shape_list(layer: Layer, input_shape: Any) -> list[tuple]:
    """The shapes of a list of inputs; ValueError in Keras's words for anything else."""
    if not isinstance(input_shape, (list, tuple)) or not all(
            isinstance(s, (list, tuple)) for s in input_shape):
        raise ValueError(f"A `{type(layer).__name__}` layer should be called on a list of "
                         f"inputs. Received: input_shape={input_shape} (not a list of shapes)")
    if len(input_shape) < 1:
        raise ValueError(f"A `{type(layer).__name__}` layer should be called on a list of at "
                         f"least 1 input. Received: input_shape={input_shape}")
    return [tuple(s) for s in input_shape]


def _same_rank(layer: Layer, shapes: list[tuple]) -> None:
    if len({len(s) for s in shapes}) != 1:
        raise ValueError(f"A `{type(layer).__name__}` layer requires inputs of the same rank. "
                         f"Received: input_shape={shapes}")


# ---------------------------------------------------------------------------------------
# Add
# ---------------------------------------------------------------------------------------


def _broadcast_dims(dims: tuple) -> tuple[bool, int | None]:
    """(ok, size) for one axis across inputs: equal sizes, or 1s that broadcast; None unknown."""
    sizes = {d for d in dims if d != 1}
    known = {d for d in sizes if d is not None}
    if len(known) > 1:
        return False, None
    if None in sizes:
        return True, None
    return True, known.pop() if known else 1


class Add(Layer):
    """Adds a list of inputs elementwise.

    The inputs have the same rank; each dimension is equal across inputs or 1
    (broadcast, numpy's rule). All are cast to the layer's dtype.

    Args:
        **kwargs: ``name``, ``trainable``, ``dtype``.

    Call arguments:
        inputs: a list of one or more tensors (or symbolic tensors from ``Input``).

    Input shape:
        A list of shapes ``(batch, ...)`` of one rank that broadcast together.

    Output shape:
        Their broadcast shape.

    Raises:
        ValueError: not a list, an empty list, different ranks, or shapes that do not
            broadcast (every input shape is named).

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer. The output
        gradient passes to every input that needs one (summed over broadcast axes);
        nothing is saved.

    Example:

    >>> import numpy as np, pyfrozen
    >>> a, b = np.ones((2, 3)), np.full((2, 3), 2.0)
    >>> pyfrozen.layers.Add()([a, b]).numpy()
    array([[3., 3., 3.],
           [3., 3., 3.]], dtype=float32)
    """

    _list_input = True

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs: Any) -> Any:
        self.compute_output_shape(shape_of(inputs) if isinstance(inputs, (list, tuple))
                                  else tuple(inputs.shape))
        return reduce(ops.add, inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = _shape_list(self, input_shape)
        _same_rank(self, shapes)
        out = []
        for dims in zip(*shapes, strict=True):
            ok, dim = _broadcast_dims(dims)
            if not ok:
                raise ValueError(f"Inputs of layer {self.name!r} have incompatible shapes. "
                                 f"Received shapes {shapes}")
            out.append(dim)
        return tuple(out)


# ---------------------------------------------------------------------------------------
# Concatenate
# ---------------------------------------------------------------------------------------


class Concatenate(Layer):
    """Concatenates a list of inputs along one axis.

    Args:
        axis: the axis to join along; default -1 (the last: channels or features).
        **kwargs: ``name``, ``trainable``, ``dtype``.

    Call arguments:
        inputs: a list of one or more tensors (or symbolic tensors from ``Input``).

    Input shape:
        A list of shapes of one rank that agree on every axis except ``axis``.

    Output shape:
        The common shape with the sizes along ``axis`` added up.

    Raises:
        ValueError: ``axis`` is not an int; not a list, an empty list, different ranks,
            ``axis`` out of range, or shapes that disagree off ``axis`` (every input
            shape is named).

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer. Each input that
        needs a gradient receives its slice of the output gradient; nothing is saved.

    Example:

    >>> import numpy as np, pyfrozen
    >>> a, b = np.zeros((2, 3)), np.ones((2, 4))
    >>> pyfrozen.layers.Concatenate()([a, b]).shape
    (2, 7)
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not is_int(axis):
            raise ValueError(f"The `axis` argument of Concatenate must be an int. "
                             f"Received: axis={axis!r}")
        self.axis = int(axis)

    _list_input = True

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs: Any) -> Any:
        self.compute_output_shape(shape_of(inputs) if isinstance(inputs, (list, tuple))
                                  else tuple(inputs.shape))
        return ops.concat(list(inputs), axis=self.axis)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = _shape_list(self, input_shape)
        _same_rank(self, shapes)
        ndim = len(shapes[0])
        if not -ndim <= self.axis < ndim:
            raise ValueError(f"Layer {self.name!r}: axis={self.axis} is out of range for inputs "
                             f"of rank {ndim}. Received: input_shape={shapes}")
        axis = self.axis % ndim
        out = []
        for i, dims in enumerate(zip(*shapes, strict=True)):
            if i == axis:
                out.append(None if None in dims else sum(dims))
                continue
            known = {d for d in dims if d is not None}
            if len(known) > 1:
                raise ValueError(f"A `Concatenate` layer requires inputs with matching shapes "
                                 f"except for the concatenation axis (axis={self.axis}). "
                                 f"Received: input_shape={shapes}")
            out.append(known.pop() if known else None)
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
