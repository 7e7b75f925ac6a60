"""Input and InputLayer: the entry points of functional models."""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen.layers.layer import Layer
from pyfrozen.layers.symbolic import CallNode, KerasTensor


class InputLayer(Layer):
    """The entry of a functional model; made by :func:`Input`.

    Args:
        shape: shape of one sample (without the batch dimension).
        batch_size: fixed batch size, or None.
        dtype: dtype of the data ("float32" default; integer dtypes for indices).
        name: layer name.

    Freezing:
        Has no weights; ``trainable`` changes nothing.
    """

    def __init__(self, shape: Any = None, batch_size: int | None = None, dtype: Any = None,
                 name: str | None = None, **kwargs: Any) -> None:
        data_dtype = np.dtype(dtype or "float32").name
        super().__init__(name=name, dtype=data_dtype if data_dtype in ("float32", "float64")
                         else None, **kwargs)
        if shape is None:
            raise ValueError("InputLayer needs a shape (without the batch dimension)")
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.data_dtype = data_dtype
        self.batch_shape = (batch_size, *shape)
        self.built = True
        tensor = KerasTensor(self.batch_shape, data_dtype, name=self.name)
        CallNode(self, [], {}, tensor)

    def call(self, inputs: Any) -> Any:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {"shape": self.batch_shape[1:], "batch_size": self.batch_shape[0],
                "dtype": self.data_dtype, "name": self.name}


def Input(  # noqa: N802 (Keras's name)
    shape: Any,
    batch_size: int | None = None,
    dtype: Any = None,
    name: str | None = None,
) -> KerasTensor:
    """A symbolic input of a functional model.

    Args:
        shape: shape of one sample, without the batch dimension, e.g. ``(224, 224, 3)``.
        batch_size: optional fixed batch size.
        dtype: "float32" by default; integer dtypes for token indices.
        name: name of the InputLayer.

    Returns:
        A :class:`KerasTensor` with shape ``(batch_size, *shape)``.

    Example:

    >>> import pyfrozen
    >>> x = pyfrozen.layers.Input((28, 28, 1))
    >>> x.shape
    (None, 28, 28, 1)
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name)
    return layer.output
