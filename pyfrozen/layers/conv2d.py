"""Conv2D: ``activation(conv2d(inputs, kernel) + bias)`` over NHWC images."""

from __future__ import annotations

from typing import Any

from pyfrozen import ops
from pyfrozen.layers._args import is_int, strictly_positive
from pyfrozen.layers._base_conv import BaseConv
from pyfrozen.layers.lora import LoraMixin


class Conv2D(LoraMixin, BaseConv):
    """2-D convolution layer: ``activation(conv2d(inputs, kernel) + bias)``.

    Slides ``filters`` kernels of size ``kernel_size`` over the height and width of an
    NHWC input. The kernel has the Keras layout ``(kh, kw, in_channels // groups,
    filters)`` (HWIO) and the bias shape ``(filters,)``, so weights move between Keras
    and pyfrozen unchanged. "same" padding follows TensorFlow (output size
    ``ceil(size / stride)``, an odd padding pixel at the bottom / right). relu, relu6,
    sigmoid and tanh are fused into the convolution's output pass (one tape node);
    other activations are applied after it.

    Args:
        filters: number of output channels, a positive int.
        kernel_size: int or pair of ints (kh, kw).
        strides: int or pair of ints; default (1, 1).
        padding: "valid" (no padding) or "same", case-insensitive.
        data_format: None or "channels_last" (the only layout pyfrozen has).
        dilation_rate: int or pair of ints; default (1, 1). Cannot exceed 1 together
            with strides > 1 (as Keras).
        groups: number of channel groups; divides ``filters`` and the input channels.
        activation: name ("relu", "softmax", ...) or callable; None for linear.
        use_bias: whether to add a bias.
        kernel_initializer: default "glorot_uniform".
        bias_initializer: default "zeros".
        **kwargs: ``name``, ``trainable``, ``dtype``, ``input_shape``; ``lora_rank``
            and ``lora_alpha`` (Keras's): ``enable_lora(lora_rank, lora_alpha)`` once
            built, how the config of an adapted layer comes back.

    Input shape:
        ``(batch, height, width, channels)``.

    Output shape:
        ``(batch, new_height, new_width, filters)``.

    Freezing:
        ``trainable=False`` freezes kernel and bias: backward computes only the input
        gradient (needed by trainable layers below), keeps the kernel for it and not
        the input, and runs no weight- or bias-gradient kernel. When nothing below needs
        a gradient either (a frozen stem), nothing is recorded at all. A freeze mask
        freezing whole output channels of the kernel (``set_freeze_mask("kernel",
        mask, axis=-1)`` with a ``(filters,)`` mask) limits the weight-gradient kernel
        to the trainable channels. ``enable_lora(rank)`` freezes the kernel and trains
        a low-rank adapter (a k x k convolution to ``rank`` channels, then ``rank x
        filters``; pyfrozen.layers.lora): the kernel gets no weight-gradient kernel.
        Inference uses the merged kernel, formed once and cached.

    Raises:
        ValueError: a non-positive ``filters``, ``kernel_size``, ``strides`` or
            ``dilation_rate``; strides and dilation both > 1; an unknown padding or
            data format; ``groups`` not dividing ``filters`` or the input channels; an
            input that is not 4-D.

    Example:

    >>> import numpy as np, pyfrozen
    >>> layer = pyfrozen.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")
    >>> layer(np.ones((2, 9, 9, 3))).shape, layer.kernel.shape
    ((2, 5, 5, 8), (3, 3, 3, 8))
    """

    _config_keys = ("filters", "kernel_size", "strides", "padding", "data_format",
                    "dilation_rate", "groups", "activation", "use_bias", "kernel_initializer",
                    "bias_initializer")

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = (1, 1), groups: int = 1, activation: Any = None,
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", **kwargs: Any) -> None:
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation,
                         use_bias, bias_initializer, **kwargs)
        self.filters = strictly_positive(filters, "filters")
        if not is_int(groups) or groups <= 0:
            raise ValueError("The number of groups must be a positive integer. "
                             f"Received: groups={groups}.")
        if filters % groups:
            raise ValueError("The number of filters must be evenly divisible by the number "
                             f"of groups. Received: groups={groups}, filters={filters}.")
        self.groups = int(groups)
        self.kernel_initializer = kernel_initializer

    def _create_weights(self, channels: int, input_shape: tuple) -> None:
        if channels % self.groups:
            raise ValueError("The number of input channels must be evenly divisible by the "
                             f"number of groups. Received groups={self.groups}, but the input "
                             f"has {channels} channels (full input shape is {input_shape}).")
        shape = (*self.kernel_size, channels // self.groups, self.filters)
        self.kernel = self.add_weight("kernel", shape, self.kernel_initializer)

    def _convolve(self, inputs: Any, activation: str | None) -> Any:
        # With LoRA: W while the adapter trains (call adds it), the cached merged kernel
        # otherwise (pyfrozen.layers.lora).
        return ops.conv2d(inputs, self._lora_kernel(), self.bias, strides=self.strides,
                          padding=self.padding, dilation_rate=self.dilation_rate,
                          groups=self.groups, activation=activation)

    def _lora_shapes(self, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if self.groups != 1:
            raise NotImplementedError(f"layer {self.name!r}: LoRA on a grouped convolution "
                                      f"(groups={self.groups}) is not supported")
        return (*self.kernel.shape[:-1], rank), (rank, self.filters)

    def _lora_project(self, inputs: Any, a: Any) -> Any:
        return ops.conv2d(inputs, a, None, strides=self.strides, padding=self.padding,
                          dilation_rate=self.dilation_rate)

    def call(self, inputs: Any) -> Any:
        if self.lora_enabled and self._lora_trains():  # conv(x, W) + s conv(x, A) B
            return self.activation(self._with_lora(inputs, self._convolve(inputs, None)))
        return super().call(inputs)
