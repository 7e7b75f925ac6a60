"""SeparableConv2D: a depthwise convolution, then a 1x1 (pointwise) convolution."""

from __future__ import annotations

from typing import Any

from pyfrozen import ops
from pyfrozen.layers import _conv_utils as cu
from pyfrozen.layers import activations
from pyfrozen.layers.layer import Layer


class SeparableConv2D(Layer):
    """Depthwise separable 2-D convolution: depthwise, then pointwise, then bias.

    First each input channel is convolved with its own ``depth_multiplier`` kernels
    (no bias), then a 1x1 convolution mixes the ``channels * depth_multiplier``
    intermediate channels into ``filters`` outputs, adds the bias and applies the
    activation (relu, relu6, sigmoid and tanh fused into the pointwise convolution).
    Weights as Keras: ``depthwise_kernel`` ``(kh, kw, channels, depth_multiplier)``,
    ``pointwise_kernel`` ``(1, 1, channels * depth_multiplier, filters)``, ``bias``
    ``(filters,)``.

    Args:
        filters: number of output channels, a positive int.
        kernel_size: int or pair of ints of the depthwise kernel.
        strides: int or pair of ints of the depthwise step; default (1, 1).
        padding: "valid" or "same" (TensorFlow's split), case-insensitive.
        data_format: None or "channels_last" (the only layout pyfrozen has).
        dilation_rate: int or pair of ints; cannot exceed 1 together with strides > 1.
        depth_multiplier: depthwise output channels per input channel.
        activation: name or callable; None for linear.
        use_bias: whether to add a bias after the pointwise convolution.
        depthwise_initializer: default "glorot_uniform".
        pointwise_initializer: default "glorot_uniform".
        bias_initializer: default "zeros".
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, new_height, new_width, filters)``.

    Freezing:
        ``trainable=False`` freezes both kernels and the bias: no weight- or
        bias-gradient kernel runs; each convolution keeps its kernel (for the input
        gradient) and not its input, and when nothing below trains the depthwise step
        records nothing. Freezing only ``depthwise_kernel`` (a full freeze mask) keeps
        the pointwise kernel training, and the pointwise step then keeps the
        depthwise output it needs. Freeze masks on whole output channels of
        ``pointwise_kernel`` or whole input channels of ``depthwise_kernel`` limit the
        weight-gradient kernels to the trainable channels.

    Raises:
        ValueError: a non-positive ``filters``, ``kernel_size``, ``strides``,
            ``dilation_rate`` or ``depth_multiplier``; strides and dilation both > 1; an
            unknown padding or data format; an input that is not 4-D.

    Example:

    >>> import numpy as np, pyfrozen
    >>> layer = pyfrozen.layers.SeparableConv2D(5, 3, depth_multiplier=2)
    >>> layer(np.ones((1, 6, 6, 4))).shape, layer.pointwise_kernel.shape
    ((1, 4, 4, 5), (1, 1, 8, 5))
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = (1, 1), depth_multiplier: int = 1,
                 activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform",
                 pointwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not cu.positive_int(filters):
            raise ValueError("Invalid value for argument `filters`. Expected a strictly "
                             f"positive value. Received filters={filters}.")
        if not cu.positive_int(depth_multiplier):
            raise ValueError("Invalid value for argument `depth_multiplier`. Expected a "
                             f"strictly positive value. Received depth_multiplier="
                             f"{depth_multiplier}.")
        self.filters = int(filters)
        self.depth_multiplier = int(depth_multiplier)
        self.kernel_size = cu.standardize_tuple(kernel_size, 2, "kernel_size")
        self.strides = cu.standardize_tuple(strides, 2, "strides")
        self.dilation_rate = cu.standardize_tuple(dilation_rate, 2, "dilation_rate")
        cu.check_strides_and_dilation(self.strides, self.dilation_rate)
        self.padding = cu.standardize_padding(padding)
        self.data_format = cu.standardize_data_format(data_format)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = depthwise_initializer
        self.pointwise_initializer = pointwise_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape: Any) -> None:
        cu.check_input_ndim(self, input_shape, 4)
        channels = cu.known_channels(self, input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", (*self.kernel_size, channels, self.depth_multiplier),
            self.depthwise_initializer)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1, 1, channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer) if (
            self.use_bias) else None

    def call(self, inputs: Any) -> Any:
        name = activations.name_of(self.activation)
        fused = name if name in activations.FUSABLE else None
        mid = ops.depthwise_conv2d(inputs, self.depthwise_kernel, None, strides=self.strides,
                                   padding=self.padding, dilation_rate=self.dilation_rate)
        y = ops.conv2d(mid, self.pointwise_kernel, self.bias, activation=fused)
        return y if fused else self.activation(y)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return cu.conv_output_shape(self, input_shape, self.kernel_size, self.strides,
                                    self.dilation_rate, self.padding, self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "depth_multiplier": self.depth_multiplier,
                "activation": activations.name_of(self.activation) or self.activation,
                "use_bias": self.use_bias, "depthwise_initializer": self.depthwise_initializer,
                "pointwise_initializer": self.pointwise_initializer,
                "bias_initializer": self.bias_initializer}
