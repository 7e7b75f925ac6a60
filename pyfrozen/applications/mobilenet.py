"""MobileNet V1 with the layer structure, padding and names of ``keras.applications``.

Pretrained weights are never downloaded: pass the path of a weight file written by
``save_weights`` (keys such as ``conv_pw_13/kernel``), or build with ``weights=None``
and train. Reference: Howard et al., "MobileNets: Efficient Convolutional Neural
Networks for Mobile Vision Applications" (2017).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from pyfrozen.applications import imagenet_utils
from pyfrozen.applications.imagenet_utils import (
    check_alpha,
    check_arguments,
    feature_pooling,
    finish_model,
    image_input,
    shared_docs,
)
from pyfrozen.layers import (
    Activation,
    BatchNormalization,
    Conv2D,
    DepthwiseConv2D,
    Dropout,
    GlobalAveragePooling2D,
    ReLU,
    Reshape,
    ZeroPadding2D,
)
from pyfrozen.models import Model

# (pointwise filters at alpha=1, stride) of the 13 depthwise-separable blocks.
_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
           (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def _conv_block(x: Any, filters: int) -> Any:
    x = Conv2D(filters, (3, 3), padding="same", use_bias=False, strides=(2, 2), name="conv1")(x)
    x = BatchNormalization(name="conv1_bn")(x)
    return ReLU(6.0, name="conv1_relu")(x)


def _depthwise_block(x: Any, filters: int, depth_multiplier: int, stride: int, block: int) -> Any:
    if stride != 1:  # TF's 'same' at stride 2 pads bottom/right only: made explicit, as Keras
        x = ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block}")(x)
    x = DepthwiseConv2D((3, 3), padding="same" if stride == 1 else "valid",
                        depth_multiplier=depth_multiplier, strides=(stride, stride),
                        use_bias=False, name=f"conv_dw_{block}")(x)
    x = BatchNormalization(name=f"conv_dw_{block}_bn")(x)
    x = ReLU(6.0, name=f"conv_dw_{block}_relu")(x)
    x = Conv2D(filters, (1, 1), padding="same", use_bias=False, strides=(1, 1),
               name=f"conv_pw_{block}")(x)
    x = BatchNormalization(name=f"conv_pw_{block}_bn")(x)
    return ReLU(6.0, name=f"conv_pw_{block}_relu")(x)


def _check_arguments(input_shape: Any, input_tensor: Any, alpha: float, depth_multiplier: int,
                     weights: Any, include_top: bool, pooling: Any,
                     classes: int) -> tuple[int, int, int]:
    shape = check_arguments(input_shape, input_tensor, weights, include_top, pooling, classes)
    check_alpha(alpha)
    if not isinstance(depth_multiplier, int) or depth_multiplier < 1:
        raise ValueError(f"depth_multiplier must be a positive integer. "
                         f"Received: depth_multiplier={depth_multiplier}")
    return shape


@shared_docs()
def MobileNet(  # noqa: N802 (Keras's name)
    input_shape: tuple[int, int, int] | None = None,
    alpha: float = 1.0,
    depth_multiplier: int = 1,
    dropout: float = 1e-3,
    include_top: bool = True,
    weights: str | os.PathLike | None = None,
    input_tensor: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str | None = None,
) -> Model:
    """MobileNet V1 (``keras.applications.MobileNet``'s structure and layer names).

    Args:
        input_shape: (rows, cols, channels), channels last; default (224, 224, 3), or
            the shape of ``input_tensor`` when that is given.
        alpha: width multiplier: every layer's filters are scaled by it.
        depth_multiplier: depthwise channel multiplier ("resolution multiplier" in
            Keras's terms).
        dropout: rate of the dropout before the classifier.
        include_top: add the classifier (global pooling, dropout, 1x1 conv, softmax).
        <shared arguments>
        name: default ``mobilenet_{alpha:.2f}_{rows}`` as Keras.

    <freezing>

    Example:

    >>> from pyfrozen.applications import MobileNet
    >>> base = MobileNet(input_shape=(96, 96, 3), alpha=0.25, include_top=False)
    >>> base.count_params(), base.outputs[0].shape
    (218544, (None, 3, 3, 256))
    """
    shape = _check_arguments(input_shape, input_tensor, alpha, depth_multiplier, weights,
                             include_top, pooling, classes)
    inputs = image_input(shape, input_tensor)
    x = _conv_block(inputs, int(32 * alpha))
    for block, (filters, stride) in enumerate(_BLOCKS, start=1):
        x = _depthwise_block(x, int(filters * alpha), depth_multiplier, stride, block)
    if include_top:
        x = GlobalAveragePooling2D(keepdims=True)(x)
        x = Dropout(dropout, name="dropout")(x)
        x = Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = Reshape((classes,), name="reshape_2")(x)
        x = Activation(classifier_activation, name="predictions")(x)
    else:
        x = feature_pooling(x, pooling)
    return finish_model(inputs, x, name or f"mobilenet_{alpha:0.2f}_{shape[0]}", weights)


def preprocess_input(x: Any, data_format: str | None = None) -> np.ndarray:
    """Scales pixels from [0, 255] to [-1, 1] ("tf" mode), as Keras's ``mobilenet`` and
    ``mobilenet_v2.preprocess_input``.

    Args:
        x: array of images (any shape), values 0..255; integer or float.
        data_format: None or "channels_last" (pyfrozen is channels last only).

    Returns:
        A float32 array (float64 input stays float64): ``x / 127.5 - 1``.
    """
    return imagenet_utils.preprocess_input(x, data_format, mode="tf")
