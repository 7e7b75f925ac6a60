"""MobileNet V2 with the layer structure, padding and names of ``keras.applications``.

Inverted residual blocks: a 1x1 expansion, a 3x3 depthwise convolution and a linear 1x1
projection, with a residual ``Add`` where the shape allows. Pretrained weights are never
downloaded: pass the path of a weight file, or build with ``weights=None`` and train.
Reference: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks"
(CVPR 2018).
"""

from __future__ import annotations

import os
from typing import Any

from pyfrozen.applications.imagenet_utils import (
    check_alpha,
    check_arguments,
    dense_top,
    feature_pooling,
    finish_model,
    image_input,
    shared_docs,
)
from pyfrozen.applications.mobilenet import preprocess_input
from pyfrozen.layers import (
    Add,
    BatchNormalization,
    Conv2D,
    DepthwiseConv2D,
    ReLU,
    ZeroPadding2D,
)
from pyfrozen.models import Model

__all__ = ["MobileNetV2", "preprocess_input"]  # preprocess_input: the same "tf" mode as V1

# (output filters at alpha=1, stride, expansion) of the 17 inverted residual blocks.
_BLOCKS = [(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6),
           (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6),
           (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6), (320, 1, 6)]


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Rounds a channel count to a multiple of ``divisor``, never more than 10 % down."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _batch_norm(name: str) -> BatchNormalization:
    # Keras's MobileNetV2 uses a slower moving average than the BN default (0.99).
    return BatchNormalization(epsilon=1e-3, momentum=0.999, name=name)


def _stride2_padding(x: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """TF's 'same' padding of a 3x3 stride-2 window: one less on top/left for even sizes."""
    rows, cols = x.shape[1:3]
    return ((rows % 2, 1), (cols % 2, 1))


def _inverted_res_block(x: Any, filters: int, stride: int, expansion: int,
                        block_id: int) -> Any:
    inputs, in_channels = x, x.shape[-1]
    out_channels = _make_divisible(filters, 8)
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    if block_id:  # the first block has expansion 1: no expansion convolution at all
        x = Conv2D(expansion * in_channels, 1, padding="same", use_bias=False,
                   name=f"{prefix}expand")(x)
        x = _batch_norm(f"{prefix}expand_BN")(x)
        x = ReLU(6.0, name=f"{prefix}expand_relu")(x)
    if stride == 2:
        x = ZeroPadding2D(_stride2_padding(x), name=f"{prefix}pad")(x)
    x = DepthwiseConv2D(3, strides=stride, use_bias=False,
                        padding="same" if stride == 1 else "valid",
                        name=f"{prefix}depthwise")(x)
    x = _batch_norm(f"{prefix}depthwise_BN")(x)
    x = ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = Conv2D(out_channels, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = _batch_norm(f"{prefix}project_BN")(x)  # linear bottleneck: no activation
    if in_channels == out_channels and stride == 1:
        return Add(name=f"{prefix}add")([inputs, x])
    return x


@shared_docs("To fine-tune the last blocks only, set ``trainable = False`` on the layers\n"
             "before them (e.g. every layer before ``block_16_expand``).")
def MobileNetV2(  # noqa: N802 (Keras's name)
    input_shape: tuple[int, int, int] | None = None,
    alpha: float = 1.0,
    include_top: bool = True,
    weights: str | os.PathLike | None = None,
    input_tensor: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str | None = None,
) -> Model:
    """MobileNet V2 (``keras.applications.MobileNetV2``'s structure and layer names).

    Args:
        input_shape: (rows, cols, channels), channels last; default (224, 224, 3), or
            the shape of ``input_tensor`` when that is given.
        alpha: width multiplier: block filters are scaled by it and rounded to a multiple
            of 8; the last convolution keeps 1280 filters unless alpha > 1.
        include_top: add the classifier (global average pooling, ``Dense`` "predictions").
        <shared arguments>
        name: default ``mobilenetv2_{alpha:.2f}_{rows}`` as Keras.

    <freezing>

    Example:

    >>> from pyfrozen.applications import MobileNetV2
    >>> base = MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, include_top=False)
    >>> base.count_params(), base.outputs[0].shape
    (410208, (None, 3, 3, 1280))
    """
    shape = check_arguments(input_shape, input_tensor, weights, include_top, pooling, classes)
    check_alpha(alpha)
    inputs = image_input(shape, input_tensor)
    x = Conv2D(_make_divisible(32 * alpha, 8), 3, strides=2, padding="same", use_bias=False,
               name="Conv1")(inputs)
    x = _batch_norm("bn_Conv1")(x)
    x = ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_res_block(x, int(filters * alpha), stride, expansion, block_id)
    # The paper applies no alpha below 1 to the last convolution, only a widening above.
    last_filters = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = Conv2D(last_filters, 1, use_bias=False, name="Conv_1")(x)
    x = _batch_norm("Conv_1_bn")(x)
    x = ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = dense_top(x, classes, classifier_activation)
    else:
        x = feature_pooling(x, pooling)
    return finish_model(inputs, x, name or f"mobilenetv2_{alpha:0.2f}_{shape[0]}", weights)
