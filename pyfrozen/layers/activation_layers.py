"""Activation layers: Activation (by name or callable), ReLU (relu / relu6), Softmax."""

from __future__ import annotations

from typing import Any

from pyfrozen import ops
from pyfrozen.layers import activations
from pyfrozen.layers._args import is_int, is_number
from pyfrozen.layers.layer import Layer


class Activation(Layer):
    """Applies an activation function to its input.

    Args:
        activation: a name ("relu", "relu6", "sigmoid", "tanh", "softmax",
            "log_softmax", "linear") or a callable taking and returning a Tensor;
            None means "linear".
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        Any.

    Output shape:
        Same as the input.

    Raises:
        ValueError: an unknown activation name (the known ones are listed).

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer. The gradient
        passes through the activation's derivative whenever a layer below trains.

    Example:

    >>> import numpy as np, pyfrozen
    >>> pyfrozen.layers.Activation("relu")(np.array([[-1.0, 2.0]])).numpy()
    array([[0., 2.]], dtype=float32)
    """

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs: Any) -> Any:
        return self.activation(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "activation": activations.name_of(self.activation) or self.activation}


def _non_negative(value: Any, name: str, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if not is_number(value) or value < 0:
        raise ValueError(f"{name} of a ReLU layer cannot be a negative value. "
                         f"Received: {name}={value!r}")
    return float(value)


class ReLU(Layer):
    """Rectified linear unit: ``max(x, 0)``, or ``min(max(x, 0), 6)`` with ``max_value=6``.

    Keras's general ReLU (``negative_slope``, ``threshold``, any ``max_value``) is
    limited here to the two forms that have kernels: plain relu and relu6
    (``ReLU(6.0)``, MobileNet's activation); other values raise a ValueError.

    Args:
        max_value: None (no upper bound) or 6.
        negative_slope: must be 0.
        threshold: must be 0.
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        Any.

    Output shape:
        Same as the input.

    Raises:
        ValueError: a negative argument (Keras's message), or a combination other than
            the two supported ones.

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer. The gradient
        passes through where the input is inside ``(0, max_value)``; only the output
        is saved for it, and only when a layer below trains.

    Example:

    >>> import numpy as np, pyfrozen
    >>> pyfrozen.layers.ReLU(max_value=6)(np.array([[-1.0, 3.0, 9.0]])).numpy()
    array([[0., 3., 6.]], dtype=float32)
    """

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_value = _non_negative(max_value, "max_value", allow_none=True)
        self.negative_slope = _non_negative(negative_slope, "negative_slope")
        self.threshold = _non_negative(threshold, "threshold")
        if self.max_value not in (None, 6.0) or self.negative_slope or self.threshold:
            raise ValueError(
                f"ReLU(max_value={max_value!r}, negative_slope={negative_slope!r}, "
                f"threshold={threshold!r}) is not supported: pyfrozen's ReLU supports "
                "max_value None (relu) or 6 (relu6), with negative_slope=0 and threshold=0"
            )

    def call(self, inputs: Any) -> Any:
        return ops.relu(inputs) if self.max_value is None else ops.relu6(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class ReLU6(ReLU):
    """``min(max(x, 0), 6)``: ``ReLU(max_value=6)`` under the name tfjs users know.

    Args:
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        Any.

    Output shape:
        Same as the input.

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer. The gradient
        passes through where the input is inside ``(0, 6)``; only the output is saved
        for it, and only when a layer below trains.

    Example:

    >>> import numpy as np, pyfrozen
    >>> pyfrozen.layers.ReLU6()(np.array([[-1.0, 3.0, 9.0]])).numpy()
    array([[0., 3., 6.]], dtype=float32)
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_value=6.0, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return Layer.get_config(self)


class Softmax(Layer):
    """Softmax along one axis: ``exp(x) / sum(exp(x))`` (the maximum subtracted first).

    Args:
        axis: the axis that sums to 1; default -1 (the last).
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        Any, with ``axis`` in range.

    Output shape:
        Same as the input.

    Raises:
        ValueError: ``axis`` is not an int, or out of range for the input.

    Freezing:
        No weights: ``trainable=False`` changes nothing for this layer. The gradient
        passes through the softmax's Jacobian whenever a layer below trains; only the
        output is saved for it.

    Example:

    >>> import numpy as np, pyfrozen
    >>> pyfrozen.layers.Softmax()(np.zeros((1, 4))).numpy()
    array([[0.25, 0.25, 0.25, 0.25]], dtype=float32)
    """

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not is_int(axis):
            raise ValueError(f"The `axis` argument of Softmax must be an int. "
                             f"Received: axis={axis!r}")
        self.axis = int(axis)

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs: Any) -> Any:
        return ops.softmax(inputs, axis=self.axis)

    def compute_output_shape(self, input_shape: Any) -> Any:
        ndim = len(input_shape)
        if not -ndim <= self.axis < ndim:
            raise ValueError(f"Layer {self.name!r}: axis={self.axis} is out of range for an "
                             f"input of shape {input_shape}")
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
