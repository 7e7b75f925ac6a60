"""BaseConv: what Conv2D, DepthwiseConv2D and SeparableConv2D share (Keras 3's BaseConv).

The three parse ``kernel_size``, ``strides``, ``padding``, ``data_format``,
``dilation_rate``, ``activation`` and ``use_bias`` alike (in Keras 3's wording), need
a 4-D input with known channels to build, end with the bias, slide the same window
and fuse the same activations. Each layer keeps only its own arguments, weights and
op.
"""

from __future__ import annotations

from typing import Any

from pyfrozen.layers import activations
from pyfrozen.layers._args import (
    channels_last,
    check_ndim,
    int_tuple,
    padding_mode,
    window_output_shape,
)
from pyfrozen.layers.layer import Layer


class BaseConv(Layer):
    """Arguments, build, output shape, call and config shared by the 2-D convolutions.

    A subclass sets ``_config_keys`` (its constructor arguments, in signature order)
    and defines ``_create_weights(channels, input_shape)`` (its kernels; the bias is
    created after them) and ``_convolve(inputs, activation)`` (its op, given the fused
    activation's name or None). The output has ``filters`` channels unless the subclass
    overrides ``_output_channels``.
    """

    _fixed_last_dim = True

    _config_keys: tuple[str, ...] = ()

    def __init__(self, kernel_size: Any, strides: Any, padding: str, data_format: str | None,
                 dilation_rate: Any, activation: Any, use_bias: bool, bias_initializer: Any,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size", distinct=True)
        self.strides = int_tuple(strides, 2, "strides", distinct=True)
        self.dilation_rate = int_tuple(dilation_rate, 2, "dilation_rate", distinct=True)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.padding = padding_mode(padding)
        self.data_format = channels_last(data_format, type(self).__name__)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = bias_initializer

    def _create_weights(self, channels: int, input_shape: tuple) -> None:
        """Adds the kernels for ``channels`` input channels."""
        raise NotImplementedError

    def _output_channels(self, channels: int | None) -> int | None:
        """The output's channels for ``channels`` input channels (None: unknown)."""
        return self.filters

    def _convolve(self, inputs: Any, activation: str | None) -> Any:
        """The op's output, with ``activation`` (a FUSABLE name or None) fused."""
        raise NotImplementedError

    def build(self, input_shape: Any) -> None:
        check_ndim(self, input_shape, 4)
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"The channel dimension of the inputs to layer {self.name!r} "
                             "should be defined. Found None. Full input shape received: "
                             f"{input_shape}")
        self._create_weights(int(channels), input_shape)
        bias_shape = (self._output_channels(int(channels)),)
        self.bias = self.add_weight("bias", bias_shape, self.bias_initializer) if (
            self.use_bias) else None

    def call(self, inputs: Any) -> Any:
        name = activations.name_of(self.activation)
        fused = name if name in activations.FUSABLE else None
        y = self._convolve(inputs, fused)
        return y if fused else self.activation(y)

    def compute_output_shape(self, input_shape: Any) -> Any:
        check_ndim(self, input_shape, 4)
        return window_output_shape(self, input_shape, "kernel_size", self.kernel_size,
                                   self.strides, self.padding,
                                   self._output_channels(input_shape[-1]), self.dilation_rate)

    def get_config(self) -> dict[str, Any]:
        config = {key: getattr(self, key) for key in self._config_keys}
        config["activation"] = activations.name_of(self.activation) or self.activation
        return {**super().get_config(), **config}
