"""Flatten and Reshape: new shapes for the same elements, the batch axis kept."""

from __future__ import annotations

from typing import Any

from pyfrozen import ops
from pyfrozen.layers._args import channels_last, is_int, product
from pyfrozen.layers.layer import Layer


class Flatten(Layer):
    """Flattens every axis but the batch axis: ``(batch, ...)`` -> ``(batch, n)``.

    Elements keep their C (row-major, channels-last) order, as Keras with
    ``channels_last``. A 1-D input ``(batch,)`` becomes ``(batch, 1)``.

    Args:
        data_format: None or "channels_last" (the only layout pyfrozen has).
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        ``(batch, ...)``, at least 1-D.

    Output shape:
        ``(batch, product of the other dimensions)``.

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer. The gradient
        passes through unchanged (reshaped back) whenever a layer below trains; the
        output is a view of a contiguous input and nothing is saved.

    Example:

    >>> import numpy as np, pyfrozen
    >>> pyfrozen.layers.Flatten()(np.zeros((2, 3, 4, 5))).shape
    (2, 60)
    """

    passes_input_dtype = True  # integer inputs (token ids) stay integers

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = channels_last(data_format, "Flatten")

    def build(self, input_shape: Any) -> None:
        _check_single(self, input_shape)

    def call(self, inputs: Any) -> Any:
        _check_single(self, tuple(inputs.shape))
        return ops.reshape(inputs, (inputs.shape[0], product(inputs.shape[1:])))

    def compute_output_shape(self, input_shape: Any) -> Any:
        _check_single(self, input_shape)
        return (input_shape[0], product(input_shape[1:]))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (the batch axis is kept).

    One entry of ``target_shape`` may be -1: it is inferred from the sample size.

    Args:
        target_shape: tuple of ints, the shape of one sample (without the batch axis).
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        ``(batch, ...)``; the sample size must fit ``target_shape``.

    Output shape:
        ``(batch, *target_shape)`` with a -1 replaced by its inferred size.

    Raises:
        ValueError: ``target_shape`` has a negative or zero entry other than one -1,
            more than one -1, or does not fit the input (both shapes named).

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer. The gradient
        passes through unchanged (reshaped back) whenever a layer below trains; nothing
        is saved.

    Example:

    >>> import numpy as np, pyfrozen
    >>> pyfrozen.layers.Reshape((3, -1))(np.zeros((2, 12))).shape
    (2, 3, 4)
    """

    passes_input_dtype = True  # integer inputs (token ids) stay integers

    def __init__(self, target_shape: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if is_int(target_shape):
            target_shape = (target_shape,)
        if not isinstance(target_shape, (tuple, list)) or not all(
                is_int(d) for d in target_shape):
            raise ValueError(f"The `target_shape` argument must be a tuple of integers. "
                             f"Received: target_shape={target_shape!r}")
        target = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in target) > 1:
            raise ValueError(f"There must be at most one unknown dimension (-1) in "
                             f"target_shape. Received: target_shape={target}")
        if any(d < 1 and d != -1 for d in target):
            raise ValueError(f"The `target_shape` argument must hold positive integers and at "
                             f"most one -1. Received: target_shape={target}")
        self.target_shape = target

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs: Any) -> Any:
        shape = self.compute_output_shape(tuple(inputs.shape))
        return ops.reshape(inputs, shape)

    def compute_output_shape(self, input_shape: Any) -> Any:
        _check_single(self, input_shape)
        size = product(input_shape[1:])
        known = product(d for d in self.target_shape if d != -1)
        if -1 not in self.target_shape:
            if size is not None and size != known:
                raise self._mismatch(input_shape)
            return (input_shape[0], *self.target_shape)
        if size is None:  # a symbolic input with an unknown dimension: so is the -1
            inferred = None
        elif known == 0 or size % known:
            raise self._mismatch(input_shape)
        else:
            inferred = size // known
        return (input_shape[0], *(inferred if d == -1 else d for d in self.target_shape))

    def _mismatch(self, input_shape: Any) -> ValueError:
        return ValueError(f"Layer {self.name!r}: the total size of the new array must be "
                          f"unchanged: cannot reshape input_shape={input_shape} (sample size "
                          f"{product(input_shape[1:])}) to target_shape={self.target_shape}")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": self.target_shape}


def _check_single(layer: Layer, shape: Any) -> None:
    if not isinstance(shape, tuple) or len(shape) < 1:
        raise ValueError(f"Layer {layer.name!r} expects one input with a batch axis. "
                         f"Received: input_shape={shape}")
