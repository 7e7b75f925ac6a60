"""ZeroPadding2D -> Conv2D / DepthwiseConv2D (padding "valid") as one convolution.

MobileNet V1 pads before each stride-2 depthwise convolution (Keras writes
``ZeroPadding2D(((0, 1), (0, 1)))`` then ``padding="valid"``). Run as written, the pad
writes a zeroed, larger copy of its input, the convolution saves that copy for its
weight gradient, and backward slices the centre of the copy's gradient, which the next
op copies again (numpy, one thread). The convolution kernels take explicit padding, so
the pair is one convolution of the unpadded input with the pad's amounts: no copies,
and the convolution saves the input array the layer before it saved already. The
values and gradients are the same (the padded zeros contribute nothing to either).

Folded by a model's graph (``Graph.run``: ``fit``, ``predict``, the ``*_on_batch``
methods, calling the model), in training and inference alike, when (planned once per
graph, checked at every call):
- the ZeroPadding2D's output has the convolution as its only reader and is not a model
  output;
- both layers are the built-in classes and their calls take one input;
- the convolution's padding is "valid", each padding amount is smaller than its
  dilated kernel (what the kernels take), and LoRA is off on it;
- fusion is on (``pyfrozen.models.fusion.enabled``, ``PYFROZEN_FUSION``).
Otherwise the pad runs as always, just before its convolution. The frozen-prefix cache
(``fit(cache_frozen_features=True)``) replays its prefix with its own runner, which runs
pads as written (it computes the prefix once per fill, so the copies cost little there).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

from pyfrozen.autograd import name_scope
from pyfrozen.layers import activations
from pyfrozen.layers.conv2d import Conv2D
from pyfrozen.layers.depthwise_conv2d import DepthwiseConv2D
from pyfrozen.layers.layer import shape_of
from pyfrozen.layers.spatial import ZeroPadding2D
from pyfrozen.models import fusion
from pyfrozen.tensor import Tensor


class PadFold(NamedTuple):
    """A ZeroPadding2D whose only reader is a convolution."""

    pad: Any
    conv: Any


def plan(calls: Sequence[fusion.Call], kept: set[Hashable]) -> dict[int, PadFold]:
    """The foldable pads among ``calls``, keyed by the pad's call index."""
    readers = fusion.Readers(calls, kept)
    folds: dict[int, PadFold] = {}
    for i, call in fusion.single_output_calls(calls, (ZeroPadding2D,)):
        j = readers.only(call.outputs[0], (Conv2D, DepthwiseConv2D))
        if j is not None:
            folds[i] = PadFold(call.layer, calls[j].layer)
    return folds


class Padded(NamedTuple):
    """What the graph holds for a folded pad's output until its convolution runs."""

    x: Any  # the pad's input
    fold: PadFold
    training: Any  # the pad call's ``training`` argument

    def pads(self) -> tuple[int, int, int, int] | None:
        """(top, bottom, left, right) for the convolution, or None if it cannot take them
        now (the pad must then run)."""
        conv = self.fold.conv
        if not fusion.enabled or getattr(conv, "lora_enabled", False) or conv.padding != "valid":
            return None
        if not (conv.built and self.fold.pad.built) or not isinstance(self.x, Tensor):
            return None
        (top, bottom), (left, right) = self.fold.pad.padding
        kh, kw = conv.kernel_size
        dh, dw = conv.dilation_rate
        if max(top, bottom) > (kh - 1) * dh or max(left, right) > (kw - 1) * dw:
            return None
        return top, bottom, left, right

    def materialize(self) -> Any:
        """The pad's output, computed as the unfolded graph computes it."""
        return self.fold.pad(self.x, training=self.training)

    def padded_shape(self) -> tuple:
        (top, bottom), (left, right) = self.fold.pad.padding
        n, h, w, c = shape_of(self.x)
        return n, h + top + bottom, w + left + right, c


def conv_input(x: Any, fold: PadFold) -> Any:
    """The convolution's input as the unfolded pad would hand it on (its dtype)."""
    return fold.pad._cast_input(x)


def run_conv(padded: Padded, pads: tuple[int, int, int, int]) -> Tensor:
    """The convolution layer's call on the unpadded input with explicit padding: what
    ``Layer.__call__`` and the layer's ``call`` do, with the padding replaced."""
    conv = padded.fold.conv
    x = conv._cast_input(conv_input(padded.x, padded.fold))
    conv._maybe_build(padded.padded_shape())  # the unfolded call's input-shape check
    name = activations.name_of(conv.activation)
    act = name if name in activations.FUSABLE else None
    with name_scope(conv.name):
        y = fusion.call_producer(conv, x, fusion.kernel_of(conv), conv.bias, act, pads)
        return y if act else conv.activation(y)
