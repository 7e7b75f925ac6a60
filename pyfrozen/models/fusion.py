"""Convolution (or Dense) -> inference BatchNormalization -> ReLU/ReLU6 as one call.

A BatchNormalization in inference mode is ``y = x * scale + shift`` per channel, with
``scale = gamma / sqrt(moving_variance + epsilon)`` and ``shift = beta - moving_mean *
scale``. After a convolution with kernel ``W`` and bias ``b`` (no activation of its
own) it equals the same convolution with ``W * scale`` (per output channel; for a
depthwise kernel ``(kh, kw, C, M)`` per channel and multiplier) and bias ``b * scale +
shift``; a following ReLU / ReLU6 / Activation("relu", ...) then goes into the pass
in which the convolution op adds its bias (in place, over its own output). MobileNet is
made of exactly these chains: fused, its inference runs per chain one convolution and
one bias + activation pass, instead of a convolution, a BatchNormalization pass and an
activation pass with a fresh output each.

When a chain is fused (checked at every call; otherwise the layers run one by one as
always):
- every layer is of the built-in class (``Conv2D``, ``DepthwiseConv2D`` or ``Dense``
  with no activation; ``BatchNormalization``; ``ReLU`` / ``ReLU6`` or an
  ``Activation`` whose function the kernels fuse): a subclass may change ``call``;
- the convolution's and the BatchNormalization's outputs have no other consumer and
  are not outputs of the model (or kept for another part of the graph);
- the BatchNormalization runs in inference mode for this call (``training`` false, or
  the layer frozen), and nothing would be recorded: recording is off (``predict``,
  ``no_grad``), or neither the input nor any weight of the chain requires a gradient
  (the frozen base of a training step). A call that records runs the layers unfused,
  exactly as before;
- LoRA is off on the convolution / Dense (an adapted layer has its own inference
  path);
- the layers share one dtype.

The folded ``W * scale`` and bias are computed once (in float64, then cast) and kept on
the convolution as one tuple, swapped whole, so a thread reading it sees either the
old or the new pair, never half of each. They are recomputed when a weight of the
chain (kernel, bias, gamma, beta, moving mean / variance) is another object or its
version counter moved (``set_weights``, ``load_weights``, an optimizer step, a
training-mode BatchNormalization call, in-place tensor ops), when epsilon or a
layer's ``trainable`` flag changed, or when the BatchNormalization is another one.
The stored weights are never changed. Writing into a weight's ``.data`` array
directly bumps no counter and is not seen (as for the frozen-feature cache).

Turn it off (to compare, or to debug a layer) with the environment variable
``PYFROZEN_FUSION=0`` before import, or by setting ``pyfrozen.models.fusion.enabled =
False`` (read at every call).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from pyfrozen import ops
from pyfrozen.autograd import is_grad_enabled, name_scope
from pyfrozen.autograd.restored_writes import restored_writes
from pyfrozen.layers import activations
from pyfrozen.layers.activation_layers import Activation, ReLU, ReLU6
from pyfrozen.layers.batch_normalization import BatchNormalization
from pyfrozen.layers.conv2d import Conv2D
from pyfrozen.layers.dense import Dense
from pyfrozen.layers.depthwise_conv2d import DepthwiseConv2D
from pyfrozen.layers.layer import shape_of
from pyfrozen.tensor import Tensor

enabled: bool = os.environ.get("PYFROZEN_FUSION", "1").strip() != "0"
"""Whether chains are fused, pads folded into convolutions (``pad_fold.py``) and
training-mode BN -> activation pairs run as one op (``bn_activation.py``);
``PYFROZEN_FUSION=0`` turns all three off; read at every call."""

_PRODUCERS = (Conv2D, DepthwiseConv2D, Dense)
ACTIVATION_LAYERS = (ReLU, ReLU6, Activation)
"""The activation layer classes a chain may end with (when their function fuses)."""


class Call(NamedTuple):
    """One layer call of a graph, as the planner sees it."""

    layer: Any
    inputs: Sequence[Hashable]  # keys of the values it reads
    outputs: Sequence[Hashable]  # keys of the values it writes
    plain: bool  # one input (not a list), no call arguments other than ``training``


class Chain(NamedTuple):
    """Producer -> BatchNormalization [-> activation] found in a graph."""

    start: int  # index of the producer's call (where the fused call runs)
    bn_index: int  # index of the BatchNormalization's call (its ``training``)
    skipped: tuple[int, ...]  # the calls the fused one replaces (BN, activation)
    output: Hashable  # key of the chain's last output
    producer: Any
    bn: Any
    activation: Any  # the activation layer, or None


# ---------------------------------------------------------------------------------------
# Planning (once per graph): which calls form chains
# ---------------------------------------------------------------------------------------


class Readers:
    """Who reads each value of a graph: the planners' one question (here, pad_fold.py,
    bn_activation.py) is whether one call of a given layer class is a value's only
    reader, so that the two calls may become one."""

    def __init__(self, calls: Sequence[Call], kept: set[Hashable]) -> None:
        self.calls, self.kept = calls, kept
        self.by_key: dict[Hashable, list[int]] = {}
        for i, call in enumerate(calls):
            for key in call.inputs:
                self.by_key.setdefault(key, []).append(i)

    def only(self, key: Hashable, kinds: tuple[type, ...]) -> int | None:
        """The index of ``key``'s only reader if it is a plain call of a layer whose class
        is one of ``kinds`` (exactly) with one output, and ``key`` is not kept; else None."""
        users = self.by_key.get(key, ())
        if key in self.kept or len(users) != 1:
            return None
        return users[0] if _replaceable(self.calls[users[0]], kinds) else None


def _replaceable(call: Call, kinds: tuple[type, ...]) -> bool:
    """A plain call of a layer of exactly one of ``kinds``, with one output."""
    return call.plain and type(call.layer) in kinds and len(call.outputs) == 1


def single_output_calls(calls: Sequence[Call], kinds: tuple[type, ...]
                        ) -> Iterator[tuple[int, Call]]:
    """(index, call) of the plain calls of a layer of one of ``kinds`` with one output."""
    return ((i, c) for i, c in enumerate(calls) if _replaceable(c, kinds))


def plan(calls: Sequence[Call], kept: set[Hashable]) -> dict[int, Chain]:
    """The chains among ``calls`` (in execution order), keyed by their first call's index.

    ``kept``: keys needed beyond these calls (model outputs, values other parts of a
    split graph read); an intermediate among them blocks its chain.
    """
    readers = Readers(calls, kept)
    chains: dict[int, Chain] = {}
    for i, call in single_output_calls(calls, _PRODUCERS):
        j = readers.only(call.outputs[0], (BatchNormalization,))
        if j is None:
            continue
        k = readers.only(calls[j].outputs[0], ACTIVATION_LAYERS)
        last = j if k is None else k
        chains[i] = Chain(i, j, (j,) if k is None else (j, k), calls[last].outputs[0],
                          call.layer, calls[j].layer, None if k is None else calls[k].layer)
    return chains


# ---------------------------------------------------------------------------------------
# Running (every call): fuse if the chain allows it now
# ---------------------------------------------------------------------------------------


def fused_activation(layer: Any) -> str | None:
    """The kernel activation for the chain's last layer: "none" without one, None if
    the layer computes something the kernels do not fuse."""
    if layer is None:
        return "none"
    if isinstance(layer, ReLU):
        if layer.negative_slope or layer.threshold:
            return None
        return {None: "relu", 6.0: "relu6"}.get(layer.max_value)
    name = activations.name_of(layer.activation)
    return name if name in activations.FUSABLE else None


def kernel_of(producer: Any) -> Any:
    """The producer's kernel weight (``depthwise_kernel`` for DepthwiseConv2D)."""
    return producer.depthwise_kernel if type(producer) is DepthwiseConv2D else producer.kernel


def _bn_params(bn: Any) -> tuple:
    return bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance


def _records(x: Tensor, producer: Any, bn: Any) -> bool:
    """Whether the unfused layers would record a node on the tape."""
    if not is_grad_enabled():
        return False
    params = (kernel_of(producer), producer.bias, bn.gamma, bn.beta)
    return x.requires_grad or any(p is not None and p.requires_grad for p in params)


def run(chain: Chain, x: Any, bn_training: bool | None, padding: tuple | None = None,
        build_shape: tuple | None = None) -> Tensor | None:
    """The chain's output computed as one call, or None when it must run unfused now.

    Args:
        chain: from :func:`plan`.
        x: the producer's input.
        bn_training: the ``training`` value the BatchNormalization's call gets.
        padding: explicit (top, bottom, left, right) replacing the convolution's own
            ("valid"), when a ZeroPadding2D before it is folded in (``pad_fold``).
        build_shape: then the padded input's shape, for the producer's shape check.
    """
    producer, bn, act = chain.producer, chain.bn, chain.activation
    if not enabled or not (producer.built and bn.built):
        return None
    # LoRA: an adapted layer adds its low-rank path; its inference is handled there.
    if getattr(producer, "lora_enabled", False) or bn._differs_in_training(bn_training):
        return None
    if activations.name_of(producer.activation) != "linear":
        return None
    name = fused_activation(act)
    dtypes = {producer.dtype, bn.dtype} | ({act.dtype} if act is not None else set())
    if name is None or len(dtypes) != 1:
        return None
    x = producer._cast_input(x)
    if not isinstance(x, Tensor) or _records(x, producer, bn):
        return None
    # the unfused call's input-shape check
    producer._maybe_build(shape_of(x) if build_shape is None else build_shape)
    folded = _folded(producer, bn)
    if folded is None:
        return None
    kernel, bias = folded
    with name_scope(producer.name):
        return call_producer(producer, x, kernel, bias, None if name == "none" else name,
                             getattr(producer, "padding", None) if padding is None else padding)


def call_producer(producer: Any, x: Tensor, kernel: Tensor, bias: Tensor, act: str | None,
                  padding: Any) -> Tensor:
    """The producer's op with the given kernel, bias, fused activation and padding."""
    if type(producer) is Dense:
        return ops.dense(x, kernel, bias, activation=act)
    if type(producer) is DepthwiseConv2D:
        return ops.depthwise_conv2d(x, kernel, bias, strides=producer.strides, padding=padding,
                                    dilation_rate=producer.dilation_rate, activation=act)
    return ops.conv2d(x, kernel, bias, strides=producer.strides, padding=padding,
                      dilation_rate=producer.dilation_rate, groups=producer.groups,
                      activation=act)


# ---------------------------------------------------------------------------------------
# The folded weights, cached on the producer
# ---------------------------------------------------------------------------------------


def _key(producer: Any, bn: Any, params: tuple, arrays: tuple) -> tuple:
    """What the folded weights depend on: each weight (by identity), its version counter
    and array (by id: the cache keeps ``arrays`` alive, so no other array can take the
    id), epsilon, the BatchNormalization, both layers' ``trainable`` flags, and the count
    of writes made behind version counters (gradcheck's, autograd.restored_writes)."""
    key: list[Any] = [bn, bn.epsilon, producer._trainable, bn._trainable, restored_writes()]
    for p, a in zip(params, arrays, strict=True):
        key += (None, 0, 0) if p is None else (p, p._version.value, id(a))
    return tuple(key)  # Tensors compare by identity (no elementwise __eq__)


def _folded(producer: Any, bn: Any) -> tuple[Tensor, Tensor] | None:
    """``(W * scale, b * scale + shift)`` for the producer's weights and ``bn``'s, or
    None if their shapes do not fit (the unfused call then raises its own error)."""
    params = (kernel_of(producer), producer.bias, *_bn_params(bn))
    arrays = tuple(None if p is None else p.data for p in params)
    key = _key(producer, bn, params, arrays)  # before folding: a change meanwhile refolds
    folds = producer.__dict__.get("_bn_fold", {})  # per BatchNormalization it feeds
    cached = folds.get(id(bn))
    if cached is not None and cached[0] == key:
        return cached[1]
    kernel, bias, gamma, beta, mean, var = arrays
    channels = kernel.shape[-2] * kernel.shape[-1] if type(producer) is DepthwiseConv2D \
        else kernel.shape[-1]
    if mean.shape != (channels,):
        return None
    scale = 1.0 / np.sqrt(var.astype(np.float64) + bn.epsilon)
    if gamma is not None:
        scale *= gamma
    shift = -mean * scale if beta is None else beta - mean * scale
    b = shift if bias is None else bias * scale + shift
    trailing = kernel.shape[-2:] if type(producer) is DepthwiseConv2D else kernel.shape[-1:]
    w = kernel * scale.reshape(trailing)
    dtype = kernel.dtype
    folded = (Tensor._wrap(np.ascontiguousarray(w, dtype)),
              Tensor._wrap(np.ascontiguousarray(b, dtype)))
    # The arrays stay referenced while cached, so the ids in the key cannot be reused by
    # other arrays. Copy on write: the dict is replaced whole, never changed in place.
    producer._bn_fold = {**folds, id(bn): (key, folded, arrays)}
    return folded
