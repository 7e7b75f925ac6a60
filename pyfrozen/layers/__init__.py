"""Keras-style layers (NHWC, Keras weight shapes and names)."""

from pyfrozen.layers.activation_layers import Activation, ReLU, ReLU6, Softmax
from pyfrozen.layers.batch_normalization import BatchNormalization
from pyfrozen.layers.conv2d import Conv2D
from pyfrozen.layers.dense import Dense
from pyfrozen.layers.depthwise_conv2d import DepthwiseConv2D
from pyfrozen.layers.dropout import Dropout
from pyfrozen.layers.embedding import Embedding
from pyfrozen.layers.input_layer import Input, InputLayer
from pyfrozen.layers.layer import Layer
from pyfrozen.layers.merging import Add, Concatenate
from pyfrozen.layers.pooling import (
    AveragePooling2D,
    AvgPool2D,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
    MaxPool2D,
    MaxPooling2D,
)
from pyfrozen.layers.rescaling import Rescaling
from pyfrozen.layers.reshaping import Flatten, Reshape
from pyfrozen.layers.separable_conv2d import SeparableConv2D
from pyfrozen.layers.serialization import deserialize, get, serialize
from pyfrozen.layers.serialization import register as _register
from pyfrozen.layers.spatial import UpSampling2D, ZeroPadding2D
from pyfrozen.layers.symbolic import KerasTensor

# Every built-in layer class, by its class name (aliases such as MaxPool2D are the same
# class): the one registry that deserialize / get and the Keras file readers consult.
for _cls in (Activation, Add, AveragePooling2D, BatchNormalization, Concatenate, Conv2D, Dense,
             DepthwiseConv2D, Dropout, Embedding, Flatten, GlobalAveragePooling2D,
             GlobalMaxPooling2D, InputLayer, Layer, MaxPooling2D, ReLU, ReLU6, Rescaling, Reshape,
             SeparableConv2D, Softmax, UpSampling2D, ZeroPadding2D):
    _register(_cls)
del _cls

__all__ = [
    "Activation",
    "Add",
    "AveragePooling2D",
    "AvgPool2D",
    "BatchNormalization",
    "Concatenate",
    "Conv2D",
    "Dense",
    "DepthwiseConv2D",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling2D",
    "GlobalAvgPool2D",
    "GlobalMaxPool2D",
    "GlobalMaxPooling2D",
    "Input",
    "InputLayer",
    "KerasTensor",
    "Layer",
    "MaxPool2D",
    "MaxPooling2D",
    "ReLU",
    "ReLU6",
    "Rescaling",
    "Reshape",
    "SeparableConv2D",
    "Softmax",
    "UpSampling2D",
    "ZeroPadding2D",
    "deserialize",
    "get",
    "serialize",
]
