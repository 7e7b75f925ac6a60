"""One ONNX converter per pyfrozen layer class, with inference semantics.

A converter receives the graph (:class:`OnnxGraph`), the layer, its input Values
(already cast to the layer's dtype) and the output's pyfrozen shape, adds nodes and
returns the output Value. BatchNormalization uses its moving statistics and Dropout
is the identity, as ``predict`` does. Classes match exactly: a user subclass of a
built-in layer may compute something else, so it has no converter unless registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from pyfrozen.layers import (
    Activation,
    Add,
    AveragePooling2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling2D,
    ReLU,
    ReLU6,
    Rescaling,
    Reshape,
    SeparableConv2D,
    Softmax,
    UpSampling2D,
    ZeroPadding2D,
    activations,
)
from pyfrozen.saving.onnx_builder import OnnxGraph, Value


class Call(NamedTuple):
    """One layer call to convert: ``inputs`` Values, output ``shape`` (NHWC order),
    ``name`` the prefix of its ONNX nodes (the layer's path in the model)."""

    layer: Any
    inputs: list[Value]
    shape: tuple[int | None, ...]
    name: str


Converter = Callable[[OnnxGraph, Call], Value]
CONVERTERS: dict[type, Converter] = {}


def converts(*classes: type) -> Callable[[Converter], Converter]:
    """Registers the decorated function as the converter of ``classes``."""
    def register(fn: Converter) -> Converter:
        for cls in classes:
            CONVERTERS[cls] = fn
        return fn
    return register


def unsupported(call: Call, what: str) -> ValueError:
    layer = call.layer
    return ValueError(f"export(format='onnx'): layer {call.name!r} "
                      f"({type(layer).__name__}): {what}")


def _out(g: OnnxGraph, call: Call, name: str, nchw: bool = False,
         dtype: str | None = None) -> Value:
    return Value(name, call.shape, dtype or call.layer.dtype, nchw and len(call.shape) == 4)


# ---------------------------------------------------------------------------------------
# Activations (also fused into Dense and the convolutions)
# ---------------------------------------------------------------------------------------


def activation(g: OnnxGraph, call: Call, x: Value, fn: Any) -> Value:
    """``fn`` (a pyfrozen activation) applied to ``x``, in ``x``'s layout."""
    name = activations.name_of(fn)
    if name is None:
        raise unsupported(call, f"the activation {fn!r} is a Python callable, which has no "
                                "ONNX form; use a built-in activation name")
    if name == "linear":
        return x
    prefix = f"{call.name}/{name}"
    if name == "relu6":
        lo = g.constant(np.zeros((), x.dtype), f"{prefix}/min")
        hi = g.constant(np.full((), 6, x.dtype), f"{prefix}/max")
        return g.value(x, g.node("Clip", [x.name, lo, hi], prefix))
    if name in ("softmax", "log_softmax"):
        op = "Softmax" if name == "softmax" else "LogSoftmax"
        return g.value(x, g.node(op, [x.name], prefix, axis=x.onnx_axis(-1)))
    op = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}[name]
    return g.value(x, g.node(op, [x.name], prefix))


@converts(Activation)
def _activation_layer(g: OnnxGraph, call: Call) -> Value:
    return activation(g, call, call.inputs[0], call.layer.activation)


@converts(ReLU, ReLU6)
def _relu(g: OnnxGraph, call: Call) -> Value:
    fn = activations.get("relu" if call.layer.max_value is None else "relu6")
    return activation(g, call, call.inputs[0], fn)


@converts(Softmax)
def _softmax(g: OnnxGraph, call: Call) -> Value:
    x = call.inputs[0]
    return g.value(x, g.node("Softmax", [x.name], f"{call.name}/softmax",
                             axis=x.onnx_axis(call.layer.axis)))


@converts(Dropout)
def _identity(g: OnnxGraph, call: Call) -> Value:
    return call.inputs[0]  # inference: dropout is off


# ---------------------------------------------------------------------------------------
# Dense and Embedding
# ---------------------------------------------------------------------------------------


@converts(Dense)
def _dense(g: OnnxGraph, call: Call) -> Value:
    layer = call.layer
    x = g.nhwc(call.inputs[0])  # the kernel contracts the channels-last axis
    y = g.node("MatMul", [x.name, g.weight(layer.kernel, f"{call.name}/kernel")],
               f"{call.name}/MatMul")
    if layer.use_bias:
        y = g.node("Add", [y, g.weight(layer.bias, f"{call.name}/bias")], f"{call.name}/Add")
    return activation(g, call, _out(g, call, y), layer.activation)


@converts(Embedding)
def _embedding(g: OnnxGraph, call: Call) -> Value:
    x = g.nhwc(call.inputs[0])
    if x.dtype not in ("int32", "int64"):
        # pyfrozen rejects float indices that are not whole numbers; ONNX's Cast truncates.
        x = g.cast(x, "int64")
    table = g.weight(call.layer.embeddings, f"{call.name}/embeddings")
    return _out(g, call, g.node("Gather", [table, x.name], f"{call.name}/Gather", axis=0))


# ---------------------------------------------------------------------------------------
# Convolutions (ONNX Conv: NCHW data, OIHW kernels)
# ---------------------------------------------------------------------------------------


def _same_pads(sizes: tuple, kernel: tuple, strides: tuple, dilation: tuple) -> list[int]:
    """TensorFlow's 'same' split (the odd pixel at the end) as ONNX pads
    [top, left, bottom, right]; a size may be unknown (None) where the stride is 1."""
    before, after = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dilation, strict=True):
        extent = (k - 1) * d + 1
        total = extent - 1 if s == 1 else max((-(-n // s) - 1) * s + extent - n, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return before + after


def window_attrs(x: Value, padding: str, kernel: tuple, strides: tuple,
                 dilation: tuple = (1, 1)) -> dict[str, Any]:
    """kernel_shape / strides / pads of a 2-D window op on the NHWC-shaped ``x``."""
    attrs: dict[str, Any] = {"kernel_shape": list(kernel), "strides": list(strides)}
    sizes = x.shape[1:3]
    if padding == "valid":
        attrs["pads"] = [0, 0, 0, 0]
    elif any(n is None and s > 1 for n, s in zip(sizes, strides, strict=True)):
        # The split depends on a size known only at run time: the runtime splits as
        # TensorFlow does. (Dilation is then 1: pyfrozen refuses it with strides > 1,
        # and onnxruntime refuses it with auto_pad.)
        attrs["auto_pad"] = "SAME_UPPER"
    else:
        attrs["pads"] = _same_pads(sizes, kernel, strides, dilation)
    return attrs


def _conv(g: OnnxGraph, call: Call, x: Value, kernel: str, bias: str | None, group: int,
          strides: tuple, name: str) -> Value:
    layer = call.layer
    kernel_hw = layer.kernel_size if name != "pointwise" else (1, 1)
    dilation = layer.dilation_rate if name != "pointwise" else (1, 1)
    padding = layer.padding if name != "pointwise" else "valid"
    attrs = window_attrs(x, padding, kernel_hw, strides, dilation)
    inputs = [g.nchw(x).name, kernel] + ([bias] if bias else [])
    y = g.node("Conv", inputs, f"{call.name}/{name}", group=group,
               dilations=list(dilation), **attrs)
    return Value(y, call.shape, x.dtype, nchw=True)


def _hwio_to_oihw(kernel: np.ndarray) -> np.ndarray:
    return kernel.transpose(3, 2, 0, 1)


def _depthwise_to_oihw(kernel: np.ndarray) -> np.ndarray:
    # (kh, kw, C, M) -> (C * M, 1, kh, kw): output channel c * M + m, as pyfrozen's op.
    kh, kw, c, m = kernel.shape
    return kernel.reshape(kh, kw, c * m, 1).transpose(2, 3, 0, 1)


def _bias(g: OnnxGraph, call: Call) -> str | None:
    return g.weight(call.layer.bias, f"{call.name}/bias") if call.layer.use_bias else None


def _finish(g: OnnxGraph, call: Call, y: Value) -> Value:
    return g.spatial_output(activation(g, call, y, call.layer.activation))


@converts(Conv2D)
def _conv2d(g: OnnxGraph, call: Call) -> Value:
    layer = call.layer
    kernel = g.weight(layer.kernel, f"{call.name}/kernel", _hwio_to_oihw)
    y = _conv(g, call, call.inputs[0], kernel, _bias(g, call), layer.groups, layer.strides,
              "Conv")
    return _finish(g, call, y)


def _depthwise_step(g: OnnxGraph, call: Call, bias: str | None) -> Value:
    """The depthwise convolution of DepthwiseConv2D and SeparableConv2D: one group per
    input channel."""
    x = call.inputs[0]
    kernel = g.weight(call.layer.depthwise_kernel, f"{call.name}/depthwise_kernel",
                      _depthwise_to_oihw)
    return _conv(g, call, x, kernel, bias, x.shape[-1], call.layer.strides, "depthwise")


@converts(DepthwiseConv2D)
def _depthwise(g: OnnxGraph, call: Call) -> Value:
    return _finish(g, call, _depthwise_step(g, call, _bias(g, call)))


@converts(SeparableConv2D)
def _separable(g: OnnxGraph, call: Call) -> Value:
    mid = _depthwise_step(g, call, None)
    pointwise = g.weight(call.layer.pointwise_kernel, f"{call.name}/pointwise_kernel",
                         _hwio_to_oihw)
    y = _conv(g, call, mid, pointwise, _bias(g, call), 1, (1, 1), "pointwise")
    return _finish(g, call, y)


# ---------------------------------------------------------------------------------------
# BatchNormalization (moving statistics)
# ---------------------------------------------------------------------------------------


@converts(BatchNormalization)
def _batch_norm(g: OnnxGraph, call: Call) -> Value:
    layer = call.layer
    x = call.inputs[0]
    if x.ndim == 4 and g.layout == "nchw":
        x = g.nchw(x)
    channels = x.shape[-1]
    dtype = np.dtype(x.dtype)
    gamma = layer.gamma.data if layer.gamma is not None else np.ones(channels, dtype)
    beta = layer.beta.data if layer.beta is not None else np.zeros(channels, dtype)
    if x.ndim == 2 or x.nchw:  # ONNX's op normalizes axis 1: the channels here
        inputs = [g.constant(a, f"{call.name}/{n}") for a, n in (
            (gamma, "gamma"), (beta, "beta"), (layer.moving_mean.data, "moving_mean"),
            (layer.moving_variance.data, "moving_variance"))]
        y = g.node("BatchNormalization", [x.name, *inputs], f"{call.name}/BatchNormalization",
                   epsilon=layer.epsilon)
        return g.spatial_output(_out(g, call, y, nchw=x.nchw))
    # Channels last (rank 3, 5, or NHWC 4-D): the same affine map, folded in float64.
    scale = gamma / np.sqrt(layer.moving_variance.data.astype(np.float64) + layer.epsilon)
    shift = beta - layer.moving_mean.data * scale
    y = g.node("Mul", [x.name, g.constant(scale.astype(dtype), f"{call.name}/scale")],
               f"{call.name}/Mul")
    y = g.node("Add", [y, g.constant(shift.astype(dtype), f"{call.name}/shift")],
               f"{call.name}/Add")
    return _out(g, call, y)


# ---------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------


@converts(MaxPooling2D, AveragePooling2D)
def _pooling(g: OnnxGraph, call: Call) -> Value:
    layer = call.layer
    x = g.nchw(call.inputs[0])
    attrs = window_attrs(x, layer.padding, layer.pool_size, layer.strides)
    if isinstance(layer, AveragePooling2D):
        op = "AveragePool"
        attrs["count_include_pad"] = 0  # 'same' averages only the real cells, as Keras
    else:
        op = "MaxPool"
    y = g.node(op, [x.name], f"{call.name}/{op}", **attrs)
    return g.spatial_output(_out(g, call, y, nchw=True))


@converts(GlobalAveragePooling2D, GlobalMaxPooling2D)
def _global_pooling(g: OnnxGraph, call: Call) -> Value:
    x = g.nchw(call.inputs[0])
    op = "GlobalAveragePool" if isinstance(call.layer, GlobalAveragePooling2D) else (
        "GlobalMaxPool")
    y = g.node(op, [x.name], f"{call.name}/{op}")
    if call.layer.keepdims:
        return g.spatial_output(_out(g, call, y, nchw=True))
    return _out(g, call, g.node("Flatten", [y], f"{call.name}/Flatten", axis=1))


# ---------------------------------------------------------------------------------------
# Spatial resizing, reshaping, rescaling
# ---------------------------------------------------------------------------------------


@converts(ZeroPadding2D)
def _zero_padding(g: OnnxGraph, call: Call) -> Value:
    x = call.inputs[0]
    pads = [0] * 8
    for axis, (before, after) in zip((1, 2), call.layer.padding, strict=True):
        pads[x.onnx_axis(axis)] = before
        pads[4 + x.onnx_axis(axis)] = after
    y = g.node("Pad", [x.name, g.ints(pads, f"{call.name}/pads")], f"{call.name}/Pad")
    return _out(g, call, y, nchw=x.nchw)


@converts(UpSampling2D)
def _upsampling(g: OnnxGraph, call: Call) -> Value:
    x = call.inputs[0]
    scales = np.ones(4, np.float32)
    for axis, factor in zip((1, 2), call.layer.size, strict=True):
        scales[x.onnx_axis(axis)] = factor
    # Output pixel i is input pixel floor(i / factor): pyfrozen's "nearest".
    y = g.node("Resize", [x.name, "", g.constant(scales, f"{call.name}/scales")],
               f"{call.name}/Resize", mode="nearest",
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    return _out(g, call, y, nchw=x.nchw)


@converts(Flatten)
def _flatten(g: OnnxGraph, call: Call) -> Value:
    x = g.nhwc(call.inputs[0])  # elements in channels-last order, as pyfrozen
    return _out(g, call, g.node("Flatten", [x.name], f"{call.name}/Flatten", axis=1),
                dtype=x.dtype)


@converts(Reshape)
def _reshape(g: OnnxGraph, call: Call) -> Value:
    x = g.nhwc(call.inputs[0])
    shape = g.ints([0, *call.layer.target_shape], f"{call.name}/shape")  # 0: keep the batch
    return _out(g, call, g.node("Reshape", [x.name, shape], f"{call.name}/Reshape"),
                dtype=x.dtype)


@converts(Rescaling)
def _rescaling(g: OnnxGraph, call: Call) -> Value:
    layer = call.layer
    x = call.inputs[0]
    if np.ndim(layer.scale) or np.ndim(layer.offset):
        x = g.nhwc(x)  # per-channel constants broadcast against the channels-last axes
    y = g.node("Mul", [x.name, g.constant(np.asarray(layer.scale, x.dtype),
                                          f"{call.name}/scale")], f"{call.name}/Mul")
    if np.any(np.asarray(layer.offset) != 0):
        y = g.node("Add", [y, g.constant(np.asarray(layer.offset, x.dtype),
                                         f"{call.name}/offset")], f"{call.name}/Add")
    return _out(g, call, y, nchw=x.nchw)


# ---------------------------------------------------------------------------------------
# Merging
# ---------------------------------------------------------------------------------------


@converts(Add)
def _add(g: OnnxGraph, call: Call) -> Value:
    values = g.same_layout(call.inputs)
    y = values[0].name
    for v in values[1:]:
        y = g.node("Add", [y, v.name], f"{call.name}/Add")
    if len(values) == 1:
        y = g.node("Identity", [y], f"{call.name}/Identity")
    return _out(g, call, y, nchw=values[0].nchw)


@converts(Concatenate)
def _concatenate(g: OnnxGraph, call: Call) -> Value:
    values = g.same_layout(call.inputs)
    axis = values[0].onnx_axis(call.layer.axis)
    y = g.node("Concat", [v.name for v in values], f"{call.name}/Concat", axis=axis)
    return _out(g, call, y, nchw=values[0].nchw)
