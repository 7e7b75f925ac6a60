"""ResNet50 (v1) with the layer structure, padding and names of ``keras.applications``.

Four stages of bottleneck residual blocks (1x1, 3x3, 1x1 convolutions with biases, each
followed by BatchNormalization) after a 7x7 stride-2 stem and a 3x3 max pooling.
Pretrained weights are never downloaded: pass the path of a weight file, or build with
``weights=None`` and train. Reference: He et al., "Deep Residual Learning for Image
Recognition" (CVPR 2016).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from pyfrozen.applications import imagenet_utils
from pyfrozen.applications.imagenet_utils import (
    check_arguments,
    dense_top,
    feature_pooling,
    finish_model,
    image_input,
    shared_docs,
)
from pyfrozen.layers import (
    Activation,
    Add,
    BatchNormalization,
    Conv2D,
    MaxPooling2D,
    ZeroPadding2D,
)
from pyfrozen.models import Model

# (stage name, bottleneck filters, blocks, stride of the first block) of ResNet50.
_STAGES = [("conv2", 64, 3, 1), ("conv3", 128, 4, 2), ("conv4", 256, 6, 2),
           ("conv5", 512, 3, 2)]


def _batch_norm(name: str) -> BatchNormalization:
    # Keras's ResNet keeps the epsilon of the original Caffe model, not the BN default.
    return BatchNormalization(axis=3, epsilon=1.001e-5, name=name)


def _residual_block(x: Any, filters: int, stride: int, conv_shortcut: bool, name: str) -> Any:
    """Keras's ``residual_block_v1``: the stride sits on the first 1x1 convolution."""
    if conv_shortcut:  # the first block of a stage changes the width (and maybe the size)
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = _batch_norm(f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = _batch_norm(f"{name}_1_bn")(x)
    x = Activation("relu", name=f"{name}_1_relu")(x)
    x = Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = _batch_norm(f"{name}_2_bn")(x)
    x = Activation("relu", name=f"{name}_2_relu")(x)
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = _batch_norm(f"{name}_3_bn")(x)
    x = Add(name=f"{name}_add")([shortcut, x])
    return Activation("relu", name=f"{name}_out")(x)


def _stack(x: Any, stage: str, filters: int, blocks: int, stride: int) -> Any:
    x = _residual_block(x, filters, stride, True, f"{stage}_block1")
    for block in range(2, blocks + 1):
        x = _residual_block(x, filters, 1, False, f"{stage}_block{block}")
    return x


@shared_docs("To fine-tune the last stage only, set ``trainable = False`` on every layer\n"
             "before ``conv5_block1_0_conv``.")
def ResNet50(  # noqa: N802 (Keras's name)
    include_top: bool = True,
    weights: str | os.PathLike | None = None,
    input_tensor: Any = None,
    input_shape: tuple[int, int, int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str = "resnet50",
) -> Model:
    """ResNet50 (``keras.applications.ResNet50``'s structure and layer names).

    Args:
        input_shape: (rows, cols, channels), channels last; default (224, 224, 3), or
            the shape of ``input_tensor`` when that is given.
        include_top: add the classifier (global average pooling "avg_pool", ``Dense``
            "predictions").
        <shared arguments>
        name: the model's name, "resnet50" as Keras.

    <freezing>

    Example:

    >>> from pyfrozen.applications import ResNet50
    >>> base = ResNet50(input_shape=(64, 64, 3), include_top=False, pooling="avg")
    >>> base.count_params(), base.outputs[0].shape
    (23587712, (None, 2048))
    """
    shape = check_arguments(input_shape, input_tensor, weights, include_top, pooling, classes)
    inputs = image_input(shape, input_tensor)
    x = ZeroPadding2D(((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = _batch_norm("conv1_bn")(x)
    x = Activation("relu", name="conv1_relu")(x)
    x = ZeroPadding2D(((1, 1), (1, 1)), name="pool1_pad")(x)
    x = MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, filters, blocks, stride in _STAGES:
        x = _stack(x, stage, filters, blocks, stride)
    if include_top:
        x = dense_top(x, classes, classifier_activation, pool_name="avg_pool")
    else:
        x = feature_pooling(x, pooling, names=("avg_pool", "max_pool"))
    return finish_model(inputs, x, name, weights)


def preprocess_input(x: Any, data_format: str | None = None) -> np.ndarray:
    """Keras's ``resnet50.preprocess_input`` ("caffe" mode): RGB to BGR, then subtracts
    the ImageNet mean of each channel (103.939, 116.779, 123.68), without scaling.

    Args:
        x: array of RGB images, channels last (..., 3), values 0..255; integer or float.
        data_format: None or "channels_last" (pyfrozen is channels last only).

    Returns:
        A new float32 array (float64 input stays float64); ``x`` is not modified.
    """
    return imagenet_utils.preprocess_input(x, data_format, mode="caffe")
