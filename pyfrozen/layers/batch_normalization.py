"""BatchNormalization over the channel (last) axis, with Keras 3's frozen-layer rule."""

from __future__ import annotations

import math
from typing import Any

from pyfrozen import ops
from pyfrozen.layers.layer import Layer


class BatchNormalization(Layer):
    """Normalizes each channel to mean 0 and variance 1, then scales and shifts it.

    ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` per channel (the last axis),
    with mean and var taken over all other axes.

    - Training (``training=True`` and ``layer.trainable``): mean and var are the batch's
      (the biased variance), and the moving statistics are updated in place with
      Keras's rule ``moving = momentum * moving + (1 - momentum) * batch_stat``.
    - Otherwise (inference, or a frozen layer): mean and var are ``moving_mean`` and
      ``moving_variance``, which stay unchanged.

    Weights as Keras: ``gamma`` and ``beta`` (trainable, shape ``(channels,)``; absent
    when ``scale`` / ``center`` is False), then ``moving_mean`` and ``moving_variance``
    (non-trainable state).

    Args:
        axis: the channel axis. Only the last axis (-1, or ``ndim - 1``) is supported:
            pyfrozen is channels-last throughout.
        momentum: weight of the old moving value in the moving-average update, in [0, 1].
        epsilon: added to the variance, >= 0.
        center: whether to add the learned offset ``beta``.
        scale: whether to multiply by the learned scale ``gamma``.
        beta_initializer: default "zeros".
        gamma_initializer: default "ones".
        moving_mean_initializer: default "zeros".
        moving_variance_initializer: default "ones".
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Call arguments:
        inputs: tensor of rank >= 2, channels last.
        training: True for batch statistics (only when the layer is trainable); None
            inherits the enclosing call's value.

    Input shape:
        Any shape ``(batch, ..., channels)``.

    Output shape:
        Same as the input.

    Freezing:
        ``trainable=False`` puts the layer in inference mode whatever ``training`` says,
        as in Keras 3: it normalizes with the moving statistics, never updates them,
        and its backward is the inference-mode one, ``dx = dy * gamma /
        sqrt(moving_variance + epsilon)``, with no batch reduction; it keeps only that
        per-channel scale (``channels`` numbers) for backward, not the activation.
        TensorFlow.js differs: its BatchNormalization ignores ``trainable`` and, in
        ``fit``, keeps normalizing a frozen layer with batch statistics and updating its
        moving statistics. A freeze mask on ``gamma`` or ``beta`` (or
        ``scale``/``center`` False) keeps the layer in training mode while freezing
        those elements; with ``gamma`` wholly frozen and nothing below training, the
        training-mode op keeps nothing for backward. Inside a model, an inference-mode
        call that records nothing (``predict``, a frozen base) right after a
        Conv2D / DepthwiseConv2D / Dense is folded into that layer's kernel and bias
        (pyfrozen.models.fusion; the stored weights are not changed).

    Raises:
        ValueError: ``axis`` other than the last one, ``momentum`` outside [0, 1], a
            negative ``epsilon``, an input of rank < 2 or with unknown channels.

    Example:

    >>> import numpy as np, pyfrozen
    >>> bn = pyfrozen.layers.BatchNormalization(dtype="float64")
    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> y = bn(x, training=True)
    >>> bn.moving_mean.numpy()
    array([0.02, 0.2 ])
    >>> bn.trainable = False
    >>> bool(np.array_equal(bn(x, training=True).numpy(), bn(x, training=False).numpy()))
    True
    >>> bn.summary_note()
    'BN: inference'
    """

    _fixed_last_dim = True

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", moving_mean_initializer: Any = "zeros",
                 moving_variance_initializer: Any = "ones", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"Expected an int value for `axis`. Received: axis={axis!r}")
        if axis < 0 and axis != -1:
            raise ValueError(_axis_message(axis))
        if not (isinstance(momentum, (int, float)) and 0.0 <= momentum <= 1.0):
            raise ValueError("Invalid value for argument `momentum`: expected a float in "
                             f"[0, 1] (the weight of the old moving value, e.g. 0.99). "
                             f"Received: momentum={momentum!r}")
        if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and epsilon >= 0):
            raise ValueError("Invalid value for argument `epsilon`: expected a finite float "
                             f">= 0. Received: epsilon={epsilon!r}")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(f"Input 0 of layer '{self.name}' is incompatible with the layer: "
                             f"expected ndim >= 2 (batch, ..., channels). Full shape "
                             f"received: {input_shape}")
        if self.axis not in (-1, len(input_shape) - 1):
            raise ValueError(_axis_message(self.axis, input_shape))
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"Axis -1 of input tensor should have a defined dimension but "
                             f"the layer '{self.name}' received an input with shape "
                             f"{input_shape}.")
        shape = (int(channels),)
        self.gamma = self.add_weight("gamma", shape, self.gamma_initializer) if (
            self.scale) else None
        self.beta = self.add_weight("beta", shape, self.beta_initializer) if (
            self.center) else None
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               self.moving_variance_initializer,
                                               trainable=False)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        # Keras 3: batch statistics only when training AND trainable; a frozen layer
        # runs (and backpropagates) in inference mode.
        use_batch_stats = bool(training) and self.trainable
        return ops.batch_norm(inputs, self.gamma, self.beta, self.moving_mean,
                              self.moving_variance, training=use_batch_stats,
                              momentum=self.momentum, epsilon=self.epsilon)

    def _differs_in_training(self, training: bool | None) -> bool:
        return bool(training) and self.trainable  # frozen: inference mode in both

    def summary_note(self) -> str:
        """The mode shown next to the Trainable column of ``model.summary()``."""
        return "BN: batch stats when training" if self.trainable else "BN: inference"

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": self.beta_initializer,
                "gamma_initializer": self.gamma_initializer,
                "moving_mean_initializer": self.moving_mean_initializer,
                "moving_variance_initializer": self.moving_variance_initializer}


def _axis_message(axis: int, input_shape: Any = None) -> str:
    shape = "" if input_shape is None else f" for input shape {tuple(input_shape)}"
    return (f"BatchNormalization in pyfrozen supports only the channels-last axis (axis=-1); "
            f"received axis={axis}{shape}. Move the channels last (NHWC) instead.")
