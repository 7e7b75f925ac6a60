"""The demo's networks: a compact MobileNet-style CNN, its cut, and the two baselines.

The CNN follows MobileNet V1's pattern and names (``pyfrozen.applications.MobileNet``) at
24x24 grey input: a strided 3x3 convolution, then five depthwise-separable blocks
(depthwise 3x3 - BN - ReLU6, pointwise 1x1 - BN - ReLU6), global average pooling, dropout
and a softmax head. BatchNormalization uses momentum 0.9 instead of Keras's 0.99: a run of a
few hundred steps must leave moving statistics that match the weights.
"""

from __future__ import annotations

from pyfrozen.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    ReLU,
)
from pyfrozen.models import Model, Sequential

SHAPE = (24, 24, 1)
STEM = 24  # filters of the first convolution
BLOCKS = [(48, 1), (96, 2), (96, 1), (192, 2), (192, 1)]  # (pointwise filters, stride)
CUT = "pool"  # the layer the target task cuts the source network at
DROPOUT = 0.3


def _bn_relu(x: object, name: str) -> object:
    x = BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return ReLU(6.0, name=f"{name}_relu")(x)


def mobilenet_like(classes: int, name: str) -> Model:
    """The CNN with a ``classes``-way softmax head named ``"head"`` (about 60k weights).

    Args:
        classes: output classes.
        name: the model's name.
    """
    inputs = Input(SHAPE, name="image")
    x = Conv2D(STEM, 3, strides=2, padding="same", use_bias=False, name="conv1")(inputs)
    x = _bn_relu(x, "conv1")
    for block, (filters, stride) in enumerate(BLOCKS, start=1):
        x = DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                            name=f"conv_dw_{block}")(x)
        x = _bn_relu(x, f"conv_dw_{block}")
        x = Conv2D(filters, 1, use_bias=False, name=f"conv_pw_{block}")(x)
        x = _bn_relu(x, f"conv_pw_{block}")
    x = GlobalAveragePooling2D(name=CUT)(x)
    x = Dropout(DROPOUT, name="dropout")(x)
    return Model(inputs, Dense(classes, activation="softmax", name="head")(x), name=name)


def transfer_model(source: Model, classes: int) -> Model:
    """Cuts ``source`` at ``CUT``, freezes that base and puts a new head on it.

    The base is called with ``training=False`` (the Keras transfer-learning recipe): its
    BatchNormalization layers stay in inference mode even once blocks are unfrozen.

    Args:
        source: a model from `mobilenet_like` (weights loaded).
        classes: classes of the new head.
    """
    base = Model(source.inputs, source.get_layer(CUT).output, name="base")
    base.trainable = False
    inputs = Input(SHAPE, name="image")
    x = base(inputs, training=False)
    x = Dropout(DROPOUT, name="dropout")(x)
    x = Dense(classes, activation="softmax", name="digits_head")(x)
    return Model(inputs, x, name="transfer")


def unfreeze_names(blocks: tuple[int, ...]) -> list[str]:
    """The convolutions of the given blocks (``conv_dw_5``, ``conv_pw_5``, ...)."""
    return [f"conv_{kind}_{b}" for b in blocks for kind in ("dw", "pw")]


def linear_model(classes: int) -> Sequential:
    """Softmax regression on the raw pixels."""
    return Sequential([Input(SHAPE), Flatten(name="pixels"),
                       Dense(classes, activation="softmax", name="head")], name="linear")
